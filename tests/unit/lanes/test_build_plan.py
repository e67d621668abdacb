"""The install plan: CUDA for the GPU here (sm_121 on a GB10, sm_90 on Hopper) when a toolkit can
build for it, else CPU with the reason in one line; install.sh evaluates `--shell` output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gpu_tools import GB10, H100, NVCC_12_4, NVCC_13, fake_gpu_tools

from lanekit.lanes.build_plan import (
    Gpu,
    Nvcc,
    parse_nvcc_version,
    parse_smi,
    plan_build,
)

ROOT = Path(__file__).resolve().parents[3]
GB10_GPU = Gpu(name="NVIDIA GB10", compute_cap="12.1")
NVCC = Nvcc(path="/usr/local/cuda/bin/nvcc", version=(13, 0))


def test_parse_smi_rows_and_no_device_message():
    assert parse_smi(GB10 + "\n" + GB10) == [Gpu(name="NVIDIA GB10", compute_cap="12.1", driver="580.95.05")] * 2
    assert parse_smi("No devices were found\n") == []
    assert parse_smi("NVIDIA Tesla, [N/A], 470.0")[0].compute_cap is None


def test_parse_nvcc_version():
    assert parse_nvcc_version(NVCC_13) == (13, 0)
    assert parse_nvcc_version("garbage") is None


def test_gb10_with_cuda_13_builds_cuda_for_sm_121():
    plan = plan_build([GB10_GPU], NVCC)
    assert plan.backend == "cuda" and plan.key == "cuda-121"
    assert "-DGGML_CUDA=ON" in plan.cmake_args and "-DCMAKE_CUDA_ARCHITECTURES=121" in plan.cmake_args
    assert plan.line == ("engine: CUDA build for NVIDIA GB10 (sm_121, CUDA 13.0 at /usr/local/cuda/bin/nvcc)")


def test_hopper_builds_sm_90_and_two_kinds_build_both():
    h100 = Gpu(name="NVIDIA H100 80GB HBM3", compute_cap="9.0")
    assert plan_build([h100], NVCC).key == "cuda-90"
    both = plan_build([h100, GB10_GPU], NVCC)
    assert "-DCMAKE_CUDA_ARCHITECTURES=90;121" in both.cmake_args and both.key == "cuda-90-121"


def test_gpu_without_toolkit_is_a_cpu_build_that_says_how_to_get_cuda():
    plan = plan_build([GB10_GPU], None)
    assert plan.backend == "cpu" and plan.cmake_args == []
    assert "NVIDIA GB10 found but no CUDA toolkit (nvcc)" in plan.line and "rerun ./install.sh" in plan.line


def test_toolkit_too_old_for_blackwell_says_the_version_needed():
    plan = plan_build([GB10_GPU], Nvcc(path="/opt/cuda/bin/nvcc", version=(12, 4)))
    assert plan.backend == "cpu" and "sm_121 needs CUDA >= 12.9" in plan.line


def test_no_gpu_and_asked_cpu_and_portable_keys():
    assert plan_build([], NVCC).line.startswith("engine: CPU build (no NVIDIA GPU")
    assert plan_build([GB10_GPU], NVCC, want="cpu").key == "cpu"
    assert plan_build([GB10_GPU], NVCC, portable=True).key == "cuda-121-portable"
    assert plan_build([GB10_GPU], NVCC, archs="120").key == "cuda-120"


def _shell_vars(env: dict) -> dict:
    script = (f'eval "$("{sys.executable}" -m lanekit.lanes.build_plan --shell)"; '
              'printf "%s\\n%s\\n%s\\n%s" "$BUILD_BACKEND" "$BUILD_KEY" "$BUILD_CMAKE" "$BUILD_LINE"')
    out = subprocess.run(["bash", "-c", script],
                         capture_output=True, text=True, env=env, check=True, cwd=ROOT).stdout.splitlines()
    return dict(zip(("backend", "key", "cmake", "line"), out))


def test_install_sh_reads_a_cuda_plan_from_the_real_tools_on_path(tmp_path, monkeypatch):
    bin_dir = fake_gpu_tools(tmp_path, monkeypatch, smi=GB10, nvcc=NVCC_13)
    got = _shell_vars({**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert got["backend"] == "cuda" and got["key"] == "cuda-121"
    assert f"-DCMAKE_CUDA_COMPILER={bin_dir / 'nvcc'}" in got["cmake"]


def test_install_sh_cpu_plan_names_the_old_toolkit(tmp_path, monkeypatch):
    fake_gpu_tools(tmp_path, monkeypatch, smi=H100, nvcc=NVCC_12_4)
    got = _shell_vars({**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert got["backend"] == "cuda" and got["key"] == "cuda-90"  # 12.4 builds Hopper
    fake_gpu_tools(tmp_path, monkeypatch, smi=GB10, nvcc=NVCC_12_4)
    got = _shell_vars({**os.environ, "PYTHONPATH": str(ROOT / "src"), "LLAMA_BACKEND": "auto"})
    assert got["backend"] == "cpu" and "needs CUDA >= 12.9" in got["line"]
