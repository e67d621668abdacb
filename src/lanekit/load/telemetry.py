"""Host telemetry beside sustained runs: /proc/meminfo always, NVML (temperature, SM clock,
power, memory) when an NVIDIA GPU is present. Fields a device does not support are None.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from lanekit.load.stats import mean

MEMINFO_FIELDS = {"MemTotal": "mem_total_bytes", "MemAvailable": "mem_available_bytes",
                  "SwapTotal": "swap_total_bytes", "SwapFree": "swap_free_bytes"}


def read_meminfo(path: str | Path = "/proc/meminfo") -> dict[str, int]:
    """The MemTotal/MemAvailable/Swap lines of /proc/meminfo in bytes ({} when unreadable)."""
    out: dict[str, int] = {}
    try:
        text = Path(path).read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in MEMINFO_FIELDS:
            parts = rest.split()
            if parts:
                out[MEMINFO_FIELDS[key]] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    return out


class _Nvml:
    """NVML handles, opened once; `available` is False on a machine without a GPU or driver."""

    def __init__(self) -> None:
        self.available = False
        self.handles: list[Any] = []
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nv = pynvml
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            self.available = bool(self.handles)
        except Exception:  # noqa: BLE001 - no driver / no GPU / no library: telemetry just has no GPU part
            self.available = False

    def _try(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception:  # noqa: BLE001 - unsupported on this device (GB10 reports no framebuffer memory, etc.)
            return None

    def snapshot(self) -> list[dict[str, Any]] | None:
        """One reading per GPU; None without NVML."""
        if not self.available:
            return None
        nv = self.nv
        out = []
        for i, h in enumerate(self.handles):
            mem = self._try(lambda h=h: nv.nvmlDeviceGetMemoryInfo(h))
            power_mw = self._try(lambda h=h: nv.nvmlDeviceGetPowerUsage(h))
            util = self._try(lambda h=h: nv.nvmlDeviceGetUtilizationRates(h))
            out.append({
                "index": i,
                "temp_c": self._try(lambda h=h: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)),
                "sm_clock_mhz": self._try(lambda h=h: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)),
                "power_w": power_mw / 1000 if power_mw is not None else None,
                "mem_used_bytes": getattr(mem, "used", None),
                "mem_total_bytes": getattr(mem, "total", None),
                "util_pct": getattr(util, "gpu", None),
            })
        return out

    def close(self) -> None:
        """Shut NVML down."""
        if self.available:
            self._try(self.nv.nvmlShutdown)


def snapshot(nvml: _Nvml | None = None, clock: Callable[[], int] = time.perf_counter_ns) -> dict[str, Any]:
    """One telemetry sample: {"t_ns", mem fields..., "gpus": [...] | None}."""
    sample: dict[str, Any] = {"t_ns": clock(), **read_meminfo()}
    sample["gpus"] = nvml.snapshot() if nvml is not None else None
    return sample


class TelemetrySampler:
    """Sample telemetry every `interval_s` on a background thread; use as a context manager."""

    def __init__(self, interval_s: float = 1.0, clock: Callable[[], int] = time.perf_counter_ns,
                 use_nvml: bool = True) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self.use_nvml = use_nvml
        self.samples: list[dict[str, Any]] = []
        self._nvml: _Nvml | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.samples.append(snapshot(self._nvml, self.clock))

    def start(self) -> Self:
        """Open NVML (when present), take the first sample now, then sample in the background."""
        self._nvml = _Nvml() if self.use_nvml else None
        self.samples.append(snapshot(self._nvml, self.clock))
        self._thread = threading.Thread(target=self._loop, name="lanekit-telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[dict[str, Any]]:
        """Stop sampling, take a last sample, close NVML; returns every sample."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=self.interval_s + 5)
            self._thread = None
            self.samples.append(snapshot(self._nvml, self.clock))
        if self._nvml is not None:
            self._nvml.close()
            self._nvml = None
        return self.samples

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Min available memory, and per run: GPU max temperature, SM clock range, mean power.

    `sm_clock_drop_pct` (peak → last sample) hints at thermal or power throttling late in the run.
    """
    out: dict[str, Any] = {"samples": len(samples)}
    avail = [s["mem_available_bytes"] for s in samples if s.get("mem_available_bytes") is not None]
    out["mem_available_min_bytes"] = min(avail) if avail else None
    out["mem_available_start_bytes"] = avail[0] if avail else None
    out["mem_available_end_bytes"] = avail[-1] if avail else None
    gpus = [g for s in samples for g in (s.get("gpus") or [])]
    if not gpus:
        out["gpu"] = None
        return out
    temps = [g["temp_c"] for g in gpus if g["temp_c"] is not None]
    clocks = [g["sm_clock_mhz"] for g in gpus if g["sm_clock_mhz"] is not None]
    mem_used = [g["mem_used_bytes"] for g in gpus if g["mem_used_bytes"] is not None]
    out["gpu"] = {
        "temp_max_c": max(temps) if temps else None,
        "sm_clock_min_mhz": min(clocks) if clocks else None,
        "sm_clock_max_mhz": max(clocks) if clocks else None,
        "sm_clock_drop_pct": (100.0 * (max(clocks) - clocks[-1]) / max(clocks)) if len(clocks) > 1 and max(clocks) else None,
        "power_mean_w": mean(g["power_w"] for g in gpus) if any(g["power_w"] is not None for g in gpus) else None,
        "mem_used_max_bytes": max(mem_used) if mem_used else None,
    }
    return out
