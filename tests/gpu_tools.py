"""Stand-ins for the NVIDIA tools this machine lacks (it has no GPU): `nvidia-smi` and `nvcc`
scripts that print what the real ones print on a GB10 or a Hopper box, put first on PATH, so the
GPU branches of the build plan and the backend check run against this machine's real llama-server."""

from __future__ import annotations

import os
from pathlib import Path

GB10 = "NVIDIA GB10, 12.1, 580.95.05"
H100 = "NVIDIA H100 80GB HBM3, 9.0, 570.133.20"
NVCC_13 = "nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 13.0, V13.0.48\n"
NVCC_12_4 = "nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 12.4, V12.4.131\n"


def _script(path: Path, text: str) -> Path:
    path.write_text("#!/bin/sh\ncat <<'EOF'\n" + text.rstrip("\n") + "\nEOF\n")
    path.chmod(0o755)
    return path


def fake_gpu_tools(tmp_path: Path, monkeypatch, smi: str | None = GB10, nvcc: str | None = None) -> Path:
    """Put fake `nvidia-smi` (and `nvcc`) first on PATH; returns the folder."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    if smi is not None:
        _script(bin_dir / "nvidia-smi", smi)
    if nvcc is not None:
        _script(bin_dir / "nvcc", nvcc)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    for var in ("CUDACXX", "CUDA_HOME", "CUDA_PATH"):
        monkeypatch.delenv(var, raising=False)
    return bin_dir
