"""The memory guard: refuse a lane before launch when its footprint would tip the pool.

The pool is the memory the lane's weights and KV will live in *now*: MemAvailable on a CPU
box or a unified-memory box (GB10: CPU and GPU share one pool), NVML free memory on a
discrete GPU when the lane offloads to it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import psutil

from lanekit.errors import LaneWontFit, PortInUse

GIB = 1 << 30


@dataclass(frozen=True)
class MemoryPool:
    """Where a lane's memory comes from and how much of it is free right now."""

    kind: str                 # "system" (RAM or unified) or "gpu"
    available_bytes: int
    total_bytes: int
    device: str


def _nvml_device() -> tuple[str, int, int] | None:
    """(name, free, total) of GPU 0, or None when NVML is unavailable."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else name
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            return name, int(mem.free), int(mem.total)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no driver, no GPU, or "Not Supported" on unified-memory parts
        return None


def is_unified(device_name: str) -> bool:
    """GB10 (DGX Spark and clones) and Grace-Hopper-style parts share one pool with the CPU."""
    return any(tag in device_name.upper() for tag in ("GB10", "GH200", "GB200", "THOR"))


def system_pool() -> MemoryPool:
    vm = psutil.virtual_memory()
    return MemoryPool("system", int(vm.available), int(vm.total), "system memory")


def memory_pool(uses_gpu: bool = True) -> MemoryPool:
    """The pool a lane draws from now; unified-memory GPUs count as the system pool."""
    gpu = _nvml_device() if uses_gpu else None
    if gpu is None or is_unified(gpu[0]):
        pool = system_pool()
        return MemoryPool("system", pool.available_bytes, pool.total_bytes,
                          f"{gpu[0]} unified memory" if gpu else "system memory")
    name, free, total = gpu
    return MemoryPool("gpu", free, total, name)


def default_headroom(pool: MemoryPool) -> int:
    """Memory kept free for the OS and other work: max(2 GiB, 5% of the pool)."""
    return max(2 * GIB, pool.total_bytes // 20)


def check_fits(estimate, pool: MemoryPool, headroom_bytes: int | None = None, lane: str = "lane") -> int:
    """Raise LaneWontFit (with the arithmetic) unless estimate + headroom fits; return free-after bytes."""
    headroom = default_headroom(pool) if headroom_bytes is None else headroom_bytes
    # the estimate may carry its own headroom line; the guard's headroom replaces it
    need = int(estimate.total_bytes) - int(getattr(estimate, "headroom_bytes", 0) or 0) + headroom
    free_after = pool.available_bytes - need
    if free_after < 0:
        lines = list(estimate.explain()) + [
            f"headroom kept free            {headroom / GIB:8.2f} GiB",
            f"needed                        {need / GIB:8.2f} GiB",
            f"available now ({pool.device}) {pool.available_bytes / GIB:8.2f} GiB",
            f"short by                      {-free_after / GIB:8.2f} GiB",
        ]
        raise LaneWontFit(f"lane {lane!r} would not fit in memory:\n  " + "\n  ".join(lines),
                          fix="lower ctx or parallel, use a smaller quant or KV dtype (kv_dtype: q8_0), "
                              "or stop other lanes (`lanekit ps`)", estimate=estimate)
    return free_after


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (a bind with SO_REUSEADDR succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_is_closed(host: str, port: int) -> bool:
    """True when a TCP connect to host:port is refused (nobody serves there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) != 0


def require_port(host: str, port: int) -> None:
    if not port_is_free(host, port):
        raise PortInUse(f"port {host}:{port} is already in use",
                        fix="pick another with --port, or stop what holds it (`lanekit ps`, `ss -ltnp`)")


def pick_port(host: str, preferred: int = 8080, span: int = 200) -> int:
    """The first free port at or above `preferred`."""
    for port in range(preferred, preferred + span):
        if port_is_free(host, port):
            return port
    raise PortInUse(f"no free port in {preferred}..{preferred + span - 1} on {host}", fix="pass --port")
