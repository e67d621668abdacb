"""Hardware profiles: memory pool, bandwidth, compute, and legacy two-term decode fits per engine.

`detect()` builds a profile for this machine (NVML, /proc/meminfo); `measure_bandwidth()`
times a large copy so the roofline can use an achieved number instead of the spec sheet.
Decode-speed terms per weight type live in `catalog.terms` (shipped and calibrated files);
`decode_terms` here only carries a `lanekit hw --calibrate` fit saved on this machine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lanekit.errors import ConfigError

GIB = 1024**3
GB = 1000**3


class DecodeTerms(BaseModel):
    """t_token = bytes_read / effective_bandwidth + layers x per-layer latency.

    `effective_bandwidth_gb_s` is the marginal bandwidth (slope over files of different size),
    `per_layer_latency_us` the fixed cost each layer adds per token (kernel launches, syncs).
    """

    effective_bandwidth_gb_s: float = Field(gt=0)
    per_layer_latency_us: float = Field(ge=0)
    source: str = "default"
    estimated: bool = True


class HardwareProfile(BaseModel):
    """One box: what it holds, how fast it reads, how it decodes per engine."""

    key: str
    name: str
    memory_bytes: int = Field(description="memory the accelerator can address (the pool on UMA)")
    bandwidth_gb_s: float = Field(description="peak memory bandwidth, spec sheet or measured")
    unified: bool = False
    compute_capability: str | None = None
    bf16_tflops: float | None = Field(default=None, description="dense bf16 tensor TFLOPS")
    fp4_tflops: float | None = None
    cpu_cores: int | None = None
    os_reserved_bytes: int = Field(default=0, description="UMA: what the OS and desktop keep")
    decode_terms: dict[str, DecodeTerms] = Field(default_factory=dict, description="legacy `hw --calibrate` fits")
    aliases: list[str] = Field(default_factory=list)
    detected: bool = False
    measured_bandwidth_gb_s: float | None = None
    notes: str = ""

    @property
    def usable_bytes(self) -> int:
        """Memory a lane may plan for when nothing else runs (UMA minus the OS reserve)."""
        return self.memory_bytes - self.os_reserved_bytes

    def terms_for(self, engine: str) -> DecodeTerms:
        """Calibrated terms for `engine`, else a generic guess: 75% of peak, 50 µs per layer."""
        if engine in self.decode_terms:
            return self.decode_terms[engine]
        bw = self.measured_bandwidth_gb_s or self.bandwidth_gb_s
        return DecodeTerms(effective_bandwidth_gb_s=0.75 * bw, per_layer_latency_us=50.0,
                           source="generic: 75% of peak bandwidth, 50 µs/layer", estimated=True)


PROFILES: dict[str, HardwareProfile] = {p.key: p for p in [
    HardwareProfile(key="gb10", name="NVIDIA DGX Spark (GB10)", memory_bytes=128 * GB, bandwidth_gb_s=273.0,
                    unified=True, compute_capability="12.1", bf16_tflops=100.0, fp4_tflops=1000.0,
                    cpu_cores=20, os_reserved_bytes=int(6.3 * GIB),
                    aliases=["spark", "dgx-spark", "gb10"],
                    notes="LPDDR5x 128 GB unified; CUDA reports ~121.7 GiB; 10 X925 + 10 A725 cores"),
    HardwareProfile(key="h100-sxm", name="NVIDIA H100 SXM 80GB", memory_bytes=80 * GIB, bandwidth_gb_s=3350.0,
                    compute_capability="9.0", bf16_tflops=989.0, aliases=["h100"]),
    HardwareProfile(key="h100-pcie", name="NVIDIA H100 PCIe 80GB", memory_bytes=80 * GIB, bandwidth_gb_s=2000.0,
                    compute_capability="9.0", bf16_tflops=756.0),
    HardwareProfile(key="h200", name="NVIDIA H200 141GB", memory_bytes=141 * GB, bandwidth_gb_s=4800.0,
                    compute_capability="9.0", bf16_tflops=989.0),
    HardwareProfile(key="a100-80g", name="NVIDIA A100 80GB SXM", memory_bytes=80 * GIB, bandwidth_gb_s=2039.0,
                    compute_capability="8.0", bf16_tflops=312.0, aliases=["a100"]),
    HardwareProfile(key="a100-40g", name="NVIDIA A100 40GB", memory_bytes=40 * GIB, bandwidth_gb_s=1555.0,
                    compute_capability="8.0", bf16_tflops=312.0),
    HardwareProfile(key="rtx-pro-6000", name="NVIDIA RTX PRO 6000 Blackwell 96GB", memory_bytes=96 * GIB,
                    bandwidth_gb_s=1792.0, compute_capability="12.0", bf16_tflops=250.0, fp4_tflops=2000.0,
                    aliases=["rtx-pro-6000-blackwell", "pro6000"]),
    HardwareProfile(key="rtx-5090", name="NVIDIA GeForce RTX 5090", memory_bytes=32 * GIB, bandwidth_gb_s=1792.0,
                    compute_capability="12.0", bf16_tflops=209.0, aliases=["5090"]),
    HardwareProfile(key="rtx-4090", name="NVIDIA GeForce RTX 4090", memory_bytes=24 * GIB, bandwidth_gb_s=1008.0,
                    compute_capability="8.9", bf16_tflops=165.0, aliases=["4090"]),
    HardwareProfile(key="m4-max", name="Apple M4 Max (128 GB)", memory_bytes=128 * GB, bandwidth_gb_s=546.0,
                    unified=True, bf16_tflops=34.0, os_reserved_bytes=8 * GIB, aliases=["m4max"]),
    HardwareProfile(key="m3-ultra", name="Apple M3 Ultra (512 GB)", memory_bytes=512 * GB, bandwidth_gb_s=819.0,
                    unified=True, bf16_tflops=57.0, os_reserved_bytes=16 * GIB, aliases=["m3ultra"]),
    HardwareProfile(key="m2-ultra", name="Apple M2 Ultra (192 GB)", memory_bytes=192 * GB, bandwidth_gb_s=800.0,
                    unified=True, bf16_tflops=27.0, os_reserved_bytes=8 * GIB),
    HardwareProfile(key="cpu", name="CPU only", memory_bytes=64 * GIB, bandwidth_gb_s=60.0, unified=True,
                    os_reserved_bytes=4 * GIB, notes="placeholder; `--hw auto` reads this machine"),
]}


def get_profile(name: str) -> HardwareProfile:
    """Profile by key or alias (`gb10`, `spark`, `h100`); `auto` detects this machine."""
    key = name.strip().lower()
    if key == "auto":
        return detect()
    for profile in PROFILES.values():
        if key == profile.key or key in profile.aliases:
            return profile
    raise ConfigError(f"unknown hardware profile {name!r}",
                      fix=f"use auto or one of {', '.join(PROFILES)}")


def profile_from_dict(data: dict) -> HardwareProfile:
    """Rebuild a profile from its `model_dump()` (e.g. a stored hardware fingerprint)."""
    return HardwareProfile.model_validate(data)


def meminfo_bytes(field: str = "MemTotal", path: str = "/proc/meminfo") -> int | None:
    """A /proc/meminfo field in bytes (MemTotal, MemAvailable), or None off Linux."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _nvml_device() -> tuple[str, int | None, str | None] | None:
    """(name, total memory or None when NVML says Not Supported, compute capability)."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound etc.: no NVIDIA driver here
        return None
    try:
        if pynvml.nvmlDeviceGetCount() < 1:
            return None
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        name = pynvml.nvmlDeviceGetName(handle)
        name = name.decode() if isinstance(name, bytes) else str(name)
        try:
            total: int | None = int(pynvml.nvmlDeviceGetMemoryInfo(handle).total)
        except pynvml.NVMLError:  # GB10 reports memory as Not Supported
            total = None
        try:
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            cc: str | None = f"{major}.{minor}"
        except pynvml.NVMLError:
            cc = None
        return name, total, cc
    finally:
        pynvml.nvmlShutdown()


_NAME_HINTS = [("gb10", "gb10"), ("h100 pcie", "h100-pcie"), ("h100", "h100-sxm"), ("h200", "h200"),
               ("a100-sxm4-40gb", "a100-40g"), ("a100", "a100-80g"), ("rtx pro 6000", "rtx-pro-6000"),
               ("5090", "rtx-5090"), ("4090", "rtx-4090")]


def detect() -> HardwareProfile:
    """Profile for this machine: the GPU NVML names (UMA when it has no own memory), else CPU.

    Memory comes from NVML for discrete GPUs and from /proc/meminfo on unified-memory boxes
    and CPU-only machines.
    """
    mem_total = meminfo_bytes("MemTotal") or 0
    cores = os.cpu_count()
    gpu = _nvml_device()
    if gpu is not None:
        name, total, cc = gpu
        base = next((PROFILES[key] for hint, key in _NAME_HINTS if hint in name.lower()), None)
        unified = total is None or (base is not None and base.unified)
        memory = mem_total if unified else int(total or 0)
        if base is None:
            base = HardwareProfile(key="gpu", name=name, memory_bytes=memory, bandwidth_gb_s=1000.0,
                                   compute_capability=cc, notes="unknown GPU: bandwidth is a guess; "
                                   "run `lanekit hw --measure`")
        return base.model_copy(update={"memory_bytes": memory or base.memory_bytes, "detected": True,
                                       "unified": unified, "cpu_cores": cores,
                                       "compute_capability": cc or base.compute_capability,
                                       "name": f"{base.name} (detected: {name})"})
    import platform

    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return PROFILES["m4-max"].model_copy(update={"detected": True, "cpu_cores": cores,
                                                     "name": "Apple Silicon (detected)"})
    return PROFILES["cpu"].model_copy(update={
        "memory_bytes": mem_total or PROFILES["cpu"].memory_bytes, "cpu_cores": cores, "detected": True,
        "name": f"CPU only ({cores} cores, detected)", "os_reserved_bytes": min(4 * GIB, mem_total // 8)})


def available_bytes(profile: HardwareProfile) -> int:
    """Memory a new lane can take right now on a detected box, else the profile's usable memory.

    UMA / CPU: MemAvailable; discrete GPU: NVML free memory.
    """
    if not profile.detected:
        return profile.usable_bytes
    if profile.unified:
        return meminfo_bytes("MemAvailable") or profile.usable_bytes
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).free)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - any NVML failure: fall back to the static figure
        return profile.usable_bytes


class BandwidthResult(BaseModel):
    """Achieved copy bandwidth: bytes read + written per second, best of the repeats."""

    device: str
    bandwidth_gb_s: float
    size_bytes: int
    repeats: int
    seconds_best: float


def measure_bandwidth(size_bytes: int = 512 * 1024**2, repeats: int = 5, *, gpu: bool | None = None,
                      threads: int | None = None) -> BandwidthResult:
    """Time a large array copy (numpy on the CPU; cupy on the GPU when installed and `gpu`).

    Bandwidth = 2 x size / best time (each copy reads and writes `size_bytes`). The CPU copy is
    split over `threads`; by default both one thread and all cores are tried and the faster kept,
    since one core cannot saturate a Grace or EPYC memory system (numpy drops the GIL to copy).
    """
    if gpu is not False:
        try:
            import cupy  # type: ignore[import-not-found]
        except ImportError:
            cupy = None
        if cupy is not None:
            return _measure_cupy(cupy, size_bytes, repeats)
        if gpu:
            raise ConfigError("GPU bandwidth needs cupy", fix="pip install cupy-cuda12x, or drop --gpu")
    import numpy as np

    n = max(size_bytes // 8, 1024)
    src = np.ones(n, dtype=np.float64)
    dst = np.empty_like(src)
    counts = [threads] if threads else sorted({1, os.cpu_count() or 1})
    results = [_time_copies(np, src, dst, max(1, c), repeats) for c in counts]
    best, workers = min(results)
    nbytes = n * 8
    return BandwidthResult(device=f"cpu (numpy copy, {workers} threads)", bandwidth_gb_s=2 * nbytes / best / GB,
                           size_bytes=nbytes, repeats=repeats, seconds_best=best)


def _time_copies(np: object, src: object, dst: object, workers: int, repeats: int) -> tuple[float, int]:
    """Best wall time of `repeats` copies split over `workers` threads (numpy drops the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    n = len(src)  # type: ignore[arg-type]
    bounds = [(i * n // workers, (i + 1) * n // workers) for i in range(workers)]

    def copy(span: tuple[int, int]) -> None:
        np.copyto(dst[span[0]:span[1]], src[span[0]:span[1]])  # type: ignore[attr-defined,index]

    best = float("inf")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(copy, bounds))  # warm-up: fault the pages in
        for _ in range(max(repeats, 1)):
            t0 = time.perf_counter()
            list(pool.map(copy, bounds))
            best = min(best, time.perf_counter() - t0)
    return best, workers


def _measure_cupy(cupy: object, size_bytes: int, repeats: int) -> BandwidthResult:
    cp = cupy
    n = max(size_bytes // 8, 1024)
    src = cp.ones(n, dtype=cp.float64)  # type: ignore[attr-defined]
    dst = cp.empty_like(src)  # type: ignore[attr-defined]
    cp.copyto(dst, src)  # type: ignore[attr-defined]
    cp.cuda.Device().synchronize()  # type: ignore[attr-defined]
    best = float("inf")
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        cp.copyto(dst, src)  # type: ignore[attr-defined]
        cp.cuda.Device().synchronize()  # type: ignore[attr-defined]
        best = min(best, time.perf_counter() - t0)
    return BandwidthResult(device="gpu (cupy copy)", bandwidth_gb_s=2 * n * 8 / best / GB, size_bytes=n * 8,
                           repeats=repeats, seconds_best=best)


def machine_identity(profile: HardwareProfile) -> dict[str, Any]:
    """What a measurement ran on: profile, GPU (name, memory, driver via NVML), CPU model, cores, RAM."""
    import platform

    ident: dict[str, Any] = {"profile": profile.key, "name": profile.name, "cpu_cores": os.cpu_count(),
                             "memory_bytes": meminfo_bytes("MemTotal"), "machine": platform.machine()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                ident["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        ident["cpu"] = platform.processor() or None
    gpu = _nvml_device()
    if gpu is not None:
        ident.update(gpu=gpu[0], gpu_memory_bytes=gpu[1], compute_capability=gpu[2])
        ident["driver"] = _nvml_driver()
    return ident


def _nvml_driver() -> str | None:
    """The NVIDIA driver version, informative only (None when NVML will not say)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            driver = pynvml.nvmlSystemGetDriverVersion()
            return driver.decode() if isinstance(driver, bytes) else str(driver)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - any NVML failure: no version
        return None
