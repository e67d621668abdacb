"""Does a llama.cpp lane run on the GPU this box has? The build's devices, the load log's offload
line, and the GPU memory the engine process holds, judged in one place.

    build_devices(binary) -> list[str] | None        # `llama-server --list-devices`
    judge_backend(gpus, devices, ...) -> BackendVerdict   # pure: pass / warn / fail + the fix

A CPU-only build on a box with an NVIDIA GPU is a failure (a bakeoff would run on the CPU and be
judged against the GPU's bandwidth); so is a lane that loaded no layer onto the GPU. `-ngl 0`
(`gpu_layers: 0`) is the way to ask for the CPU on purpose.
"""

from __future__ import annotations

import contextlib
import functools
import re
import subprocess
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from lanekit.lanes.build_plan import Gpu, nvidia_gpus

REBUILD_FIX = ("rebuild llama.cpp for this GPU: ./install.sh (it detects the GPU and the CUDA toolkit and "
               "builds with CUDA), or point LLAMA_SERVER= at a CUDA build; set gpu_layers: 0 to run on the "
               "CPU on purpose")
_OFFLOADED = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")
_GPU_BUFFER = re.compile(r"\b((?:CUDA|ROCm|Vulkan|Metal|SYCL)\d*)(?:_\w+)? model buffer size\s*=\s*([\d.]+) MiB")
_NO_GPU = "no usable GPU found"
GPU_LIBS = ("libggml-cuda", "libggml-hip", "libggml-vulkan", "libggml-metal", "libggml-sycl")


class Offload(BaseModel):
    """What the load log says about offloading (any field may be unknown)."""

    offloaded_layers: int | None = None
    total_layers: int | None = None
    gpu_buffer_mib: float | None = None
    no_usable_gpu: bool = False


class BackendVerdict(BaseModel):
    """The backend check of one llama.cpp lane or build."""

    status: Literal["pass", "warn", "fail"]
    detail: str
    fix: str | None = None
    gpus: list[str] = Field(default_factory=list)
    devices: list[str] | None = None
    offload: Offload | None = None
    gpu_bytes: int | None = None


def parse_devices(text: str) -> list[str]:
    """Device lines of `llama-server --list-devices` (`CUDA0: NVIDIA GB10 (…)`); [] for `(none)`."""
    out, listing = [], False
    for line in text.splitlines():
        if line.strip().startswith("Available devices"):
            listing = True
            continue
        if listing and line.strip() and line.strip() != "(none)" and ":" in line:
            out.append(line.strip())
    return out


@functools.lru_cache(maxsize=16)
def _list_devices(binary: str, stamp: float) -> tuple[str, ...] | None:
    import os

    from lanekit.lanes.engines.llamacpp_host import host_env

    try:
        done = subprocess.run([binary, "--list-devices"], capture_output=True, text=True, timeout=60,
                              env={**os.environ, **host_env(binary)}, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = done.stdout + done.stderr
    if "Available devices" not in text:
        return None  # an old build without --list-devices
    return tuple(parse_devices(text))


def build_devices(binary: str) -> list[str] | None:
    """The GPU/accelerator devices this llama.cpp build can use (None when it cannot say)."""
    path = Path(binary)
    with contextlib.suppress(OSError):
        found = _list_devices(str(path.resolve()), path.stat().st_mtime)
        return list(found) if found is not None else _devices_from_libs(path)
    return None


def _devices_from_libs(binary: Path) -> list[str] | None:
    """Fallback for builds without --list-devices: a GPU backend library beside the binary."""
    libs = [p.name for p in binary.resolve().parent.glob("libggml-*") if p.name.startswith(GPU_LIBS)]
    return [f"{lib} (library beside the binary)" for lib in sorted(set(libs))] or None


def parse_offload(log_text: str) -> Offload:
    """The offload facts a llama-server load log states (verbosity 4 prints the layer count)."""
    off = Offload(no_usable_gpu=_NO_GPU in log_text)
    if (m := _OFFLOADED.findall(log_text)):
        off.offloaded_layers, off.total_layers = int(m[-1][0]), int(m[-1][1])
    buffers = _GPU_BUFFER.findall(log_text)
    if buffers:
        off.gpu_buffer_mib = sum(float(size) for _, size in buffers)
    return off


def process_gpu_bytes(pid: int) -> int | None:
    """GPU memory NVML attributes to `pid` and its children (None when NVML cannot say)."""
    try:
        import psutil
        import pynvml
    except ImportError:
        return None
    try:
        pids = {pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))}
    except psutil.Error:
        pids = {pid}
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver
        return None
    try:
        total, seen = 0, False
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            with contextlib.suppress(pynvml.NVMLError):
                for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    if proc.pid in pids:
                        if proc.usedGpuMemory is None:  # "N/A" (unified-memory parts): no number to judge
                            return None
                        seen = True
                        total += int(proc.usedGpuMemory)
        # not listed is no proof of "nothing": in a container NVML names host pids, not ours
        return total if seen else None
    except pynvml.NVMLError:
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def judge_backend(gpus: list[Gpu], devices: list[str] | None, *, gpu_layers: int | None = None,
                  offload: Offload | None = None, gpu_bytes: int | None = None,
                  model_bytes: int | None = None) -> BackendVerdict:
    """pass / warn / fail for a llama.cpp lane from what is known about the box, build and load."""
    names = [g.name for g in gpus]
    base = {"gpus": names, "devices": devices, "offload": offload, "gpu_bytes": gpu_bytes}
    gpu_devices = [d for d in devices or [] if not d.upper().startswith(("CPU", "BLAS", "RPC"))]
    if not gpus:
        where = f"; the build lists {', '.join(gpu_devices)}" if gpu_devices else ""
        return BackendVerdict(status="pass", detail=f"no NVIDIA GPU on this box: the lane runs on the CPU{where}",
                              **base)
    box = ", ".join(dict.fromkeys(names))
    if gpu_layers == 0:
        return BackendVerdict(status="warn", detail=f"gpu_layers: 0 keeps the lane on the CPU although this box "
                              f"has {box}", fix="drop gpu_layers: 0 (or set 999) to offload to the GPU", **base)
    if (offload is not None and offload.no_usable_gpu) or devices == []:
        return BackendVerdict(status="fail", detail=f"this llama.cpp build is CPU-only (it lists no GPU device) "
                              f"on a box with {box}: the lane runs on the CPU", fix=REBUILD_FIX, **base)
    if offload is not None and offload.offloaded_layers is not None:
        n, total = offload.offloaded_layers, offload.total_layers or 0
        if n == 0:
            return BackendVerdict(status="fail", detail=f"no layer offloaded to {box} (0/{total}): the lane runs "
                                  "on the CPU", fix="serve with gpu_layers: 999 (-ngl 999)", **base)
        if n < total:
            return BackendVerdict(status="warn", detail=f"only {n}/{total} layers on the GPU: the rest decode on "
                                  "the CPU", fix="lower ctx or use a smaller quant so every layer fits; "
                                  "-ngl 999 when memory allows", **base)
        return BackendVerdict(status="pass", detail=f"{n}/{total} layers offloaded to {box}", **base)
    if offload is not None and offload.gpu_buffer_mib:
        return BackendVerdict(status="pass", detail=f"{offload.gpu_buffer_mib / 1024:.2f} GiB of weights loaded "
                              f"onto {box} (load log)", **base)
    if gpu_bytes:
        share = f" ({gpu_bytes / model_bytes:.0%} of the model file)" if model_bytes else ""
        if model_bytes and gpu_bytes < 0.5 * model_bytes:
            return BackendVerdict(status="warn", detail=f"the engine holds {gpu_bytes / 2**30:.2f} GiB on {box}"
                                  f"{share}: part of the model stays on the CPU",
                                  fix="-ngl 999, lower ctx or a smaller quant so every layer fits", **base)
        return BackendVerdict(status="pass", detail=f"the engine holds {gpu_bytes / 2**30:.2f} GiB on {box}{share}",
                              **base)
    if gpu_devices:
        return BackendVerdict(status="pass", detail=f"the build uses {', '.join(gpu_devices)} and offloads by "
                              "default (no layer count in the log, none from NVML; -lv 4 prints it)", **base)
    return BackendVerdict(status="warn", detail=f"cannot tell whether this build offloads to {box}",
                          fix="run the lane's llama-server with --list-devices; " + REBUILD_FIX, **base)


def check_build(binary: str, gpu_layers: int | None = None) -> BackendVerdict:
    """The backend verdict for a build before any lane runs (the guard and `lanekit smoke`); on a
    box without an NVIDIA GPU the binary is not even asked."""
    gpus = nvidia_gpus()
    return judge_backend(gpus, build_devices(binary) if gpus else None, gpu_layers=gpu_layers)


def check_lane(binary: str, *, pid: int | None = None, log_path: str | None = None,
               gpu_layers: int | None = None, model_bytes: int | None = None) -> BackendVerdict:
    """The backend verdict of a running lane: build devices, its load log and its GPU memory."""
    gpus = nvidia_gpus()
    offload = None
    if log_path and gpus:
        with contextlib.suppress(OSError):
            offload = parse_offload(Path(log_path).read_text(errors="replace")[:4_000_000])
    gpu_bytes = process_gpu_bytes(pid) if pid and gpus else None
    return judge_backend(gpus, build_devices(binary) if gpus else None, gpu_layers=gpu_layers, offload=offload,
                         gpu_bytes=gpu_bytes, model_bytes=model_bytes)
