"""A live lane's actual memory footprint, measured after launch, beside the estimate the guard used.

- GPU memory per process: NVML's compute processes on every device, summed over the lane's
  process group (None where NVML reports no per-process memory, as on unified-memory parts).
- RSS, and PSS where the kernel gives it, of the process group (CPU and unified-memory lanes;
  llama.cpp's RSS includes the weights it mmapped and touched).
- The KV capacity the engine itself reports: llama.cpp's log (`llama_kv_cache: size = ... (N
  cells`, `n_slots = S, n_ctx_slot = C`) and `/props`; vLLM's log (`GPU KV cache size: N
  tokens`, `Available KV cache memory`, `Model loading took`); SGLang's (`KV Cache is allocated.
  #tokens: N, K size: .. GB, V size: .. GB`).
`compare` puts the two side by side: estimate ÷ actual, for the profile's estimate-vs-actual row.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel, Field

GIB = 1 << 30
MIB = 1 << 20
_UNITS = {"KiB": 1 << 10, "MiB": MIB, "GiB": GIB, "KB": 1000, "MB": 1000**2, "GB": 1000**3}
_NUM = r"([\d,]+(?:\.\d+)?)"
_LLAMACPP = {
    "kv_bytes": re.compile(rf"llama_kv_cache: size = +{_NUM} (MiB|GiB) \( *(\d+) cells, +\d+ layers, +(\d+)/\d+ seqs"),
    "slots": re.compile(r"n_slots = (\d+), n_ctx_slot = (\d+)"),
    "model_buffer": re.compile(rf"(\w+)(?:_Mapped)? model buffer size = +{_NUM} MiB"),
}
_VLLM = {
    "kv_tokens": re.compile(rf"(?:GPU|CPU) KV cache size: {_NUM} tokens"),
    "kv_bytes": re.compile(rf"Available KV cache memory: {_NUM} (GiB|MiB)"),
    "weights": re.compile(rf"Model loading took {_NUM} (GiB|GB|MiB)"),
    "concurrency": re.compile(rf"Maximum concurrency for {_NUM} tokens per request: {_NUM}x"),
}
_SGLANG = re.compile(rf"KV Cache is allocated\. #tokens: {_NUM}, K size: {_NUM} GB, V size: {_NUM} GB")


class Footprint(BaseModel):
    """What a running lane holds, and what its engine says its KV cache can take."""

    engine: str
    pids: list[int]
    gpu_bytes: int | None = None
    gpu_bytes_by_pid: dict[int, int] = Field(default_factory=dict)
    rss_bytes: int = 0
    pss_bytes: int | None = None
    kv_tokens: int | None = None
    kv_bytes: int | None = None
    weights_bytes: int | None = None
    slots: int | None = None
    n_ctx_per_slot: int | None = None
    sources: dict[str, str] = Field(default_factory=dict)
    measured_at: float = Field(default_factory=time.time)


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def parse_engine_log(engine: str, text: str) -> dict[str, Any]:
    """KV capacity (tokens, bytes), weights and slots an engine's start-up log reports; {} if none."""
    out: dict[str, Any] = {}
    if engine.startswith("llamacpp"):
        kv = _LLAMACPP["kv_bytes"].findall(text)
        if kv:  # one line per cache (a windowed model has two): sum them
            out["kv_bytes"] = int(sum(_num(v) * _UNITS[u] for v, u, _c, _s in kv))
            out["kv_tokens"] = max(int(c) * int(s) for _v, _u, c, s in kv)
        slots = _LLAMACPP["slots"].findall(text)
        if slots:
            n, per = (int(x) for x in slots[-1])
            out.update(slots=n, n_ctx_per_slot=per)
            out.setdefault("kv_tokens", n * per)
        buffers = _LLAMACPP["model_buffer"].findall(text)
        if buffers:
            out["weights_bytes"] = int(sum(_num(v) for _dev, v in buffers) * MIB)
    elif engine.startswith(("vllm", "nim", "trtllm")):
        for key in ("kv_tokens", "kv_bytes", "weights"):
            found = _VLLM[key].findall(text)
            if not found:
                continue
            last = found[-1]
            if key == "kv_tokens":
                out["kv_tokens"] = int(_num(last))
            else:
                out["kv_bytes" if key == "kv_bytes" else "weights_bytes"] = int(_num(last[0]) * _UNITS[last[1]])
    elif engine.startswith("sglang"):
        found = _SGLANG.findall(text)
        if found:
            tokens, k_gb, v_gb = found[-1]
            out.update(kv_tokens=int(_num(tokens)), kv_bytes=int((_num(k_gb) + _num(v_gb)) * 1000**3))
    return out


def group_processes(pgid: int, root_pid: int | None = None) -> list[psutil.Process]:
    """Live members of process group `pgid`, plus `root_pid`'s descendants that left it."""
    procs: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                procs[proc.pid] = proc
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    if root_pid is not None:
        try:
            root = psutil.Process(root_pid)
            for proc in [root, *root.children(recursive=True)]:
                procs.setdefault(proc.pid, proc)
        except psutil.Error:
            pass
    return list(procs.values())


def gpu_memory_by_pid() -> dict[int, int] | None:
    """Bytes of GPU memory each process holds, over every NVIDIA device; None without NVML."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver / no GPU
        return None
    try:
        out: dict[int, int] = {}
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                used = getattr(proc, "usedGpuMemory", None)
                if isinstance(used, int) and used > 0:  # None / N/A on unified-memory parts
                    out[proc.pid] = out.get(proc.pid, 0) + used
        return out
    except Exception:  # noqa: BLE001 - NVML "Not Supported" on some parts: no per-process figure
        return None
    finally:
        pynvml.nvmlShutdown()


def _props(base_url: str) -> dict[str, Any]:
    """llama-server's `/props`: slots and per-slot context (what the engine actually allocated)."""
    import httpx

    try:
        resp = httpx.get(base_url.removesuffix("/v1") + "/props", timeout=3.0)
        data = resp.json() if resp.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}
    out: dict[str, Any] = {}
    if isinstance(data.get("total_slots"), int):
        out["slots"] = data["total_slots"]
    n_ctx = (data.get("default_generation_settings") or {}).get("n_ctx")
    if isinstance(n_ctx, int):
        out["n_ctx_per_slot"] = n_ctx
    return out


def measure_footprint(pgid: int, *, engine: str, log_path: str | Path | None = None, base_url: str | None = None,
                      root_pid: int | None = None) -> Footprint:
    """Measure a running lane: GPU memory and RSS of its processes, and its engine's own KV figures."""
    procs = group_processes(pgid, root_pid)
    fp = Footprint(engine=engine, pids=sorted(p.pid for p in procs))
    for proc in procs:
        try:
            mem = proc.memory_full_info() if hasattr(proc, "memory_full_info") else proc.memory_info()
        except psutil.AccessDenied:
            mem = proc.memory_info()
        except psutil.Error:
            continue
        fp.rss_bytes += int(mem.rss)
        pss = getattr(mem, "pss", None)
        if pss is not None:
            fp.pss_bytes = (fp.pss_bytes or 0) + int(pss)
    fp.sources["rss_bytes"] = f"psutil, {len(procs)} process(es) of group {pgid}"
    gpu = gpu_memory_by_pid()
    if gpu is not None:
        mine = {pid: used for pid, used in gpu.items() if pid in fp.pids}
        fp.gpu_bytes_by_pid = mine
        fp.gpu_bytes = sum(mine.values()) if mine else None
        fp.sources["gpu_bytes"] = "NVML compute processes" if mine else "NVML: no process of the lane holds GPU memory"
    if log_path is not None:
        try:
            parsed = parse_engine_log(engine, Path(log_path).read_text(errors="replace"))
        except OSError:
            parsed = {}
        for key, value in parsed.items():
            setattr(fp, key, value)
            fp.sources[key] = f"engine log {Path(log_path).name}"
    if base_url and engine.startswith("llamacpp"):
        for key, value in _props(base_url).items():
            setattr(fp, key, value)
            fp.sources[key] = "/props"
        if fp.slots and fp.n_ctx_per_slot:
            fp.kv_tokens = fp.slots * fp.n_ctx_per_slot
            fp.sources["kv_tokens"] = "/props: total_slots x n_ctx"
    return fp


def compare(estimate, fp: Footprint, *, unified: bool = False) -> dict[str, Any]:
    """Estimate vs actual for one lane: held bytes, KV capacity, and estimate ÷ actual.

    The estimate's headroom is memory kept free, not held, so it is left out. Discrete GPUs are
    judged on NVML's per-process bytes, CPU and unified-memory lanes on RSS.
    """
    est_held = int(estimate.total_bytes) - int(getattr(estimate, "headroom_bytes", 0) or 0)
    actual = fp.rss_bytes if unified or fp.gpu_bytes is None else fp.gpu_bytes
    kv_tokens_est = int(getattr(estimate, "kv_tokens", 0) or 0)
    return {
        "estimate_bytes": est_held, "actual_bytes": actual,
        "actual_source": "rss" if unified or fp.gpu_bytes is None else "gpu",
        "ratio": round(est_held / actual, 3) if actual else None,
        "kv_estimate_bytes": int(estimate.kv_bytes), "kv_actual_bytes": fp.kv_bytes,
        "kv_ratio": round(estimate.kv_bytes / fp.kv_bytes, 3) if fp.kv_bytes else None,
        "kv_tokens_estimate": kv_tokens_est, "kv_tokens_actual": fp.kv_tokens,
        "weights_estimate_bytes": int(estimate.weights_bytes), "weights_actual_bytes": fp.weights_bytes,
    }


def lane_footprint(lane) -> Footprint | None:
    """`measure_footprint` for a started `lifecycle.Lane` (None before it has a process)."""
    rec = getattr(lane, "record", None)
    if rec is None:
        return None
    return measure_footprint(rec.pgid, engine=rec.engine, log_path=rec.log_path, base_url=rec.base_url,
                             root_pid=rec.pid)


def footprint_row(lane) -> dict[str, Any] | None:
    """What the profile shows for a started lane: its footprint and estimate vs actual, as plain data.

    None before the lane has a process or an estimate; never raises (the footprint is advisory).
    """
    from lanekit.lanes.guard import memory_pool

    estimate = getattr(lane, "estimate", None)
    try:
        fp = lane_footprint(lane)
        if fp is None or estimate is None:
            return None
        unified = memory_pool().kind == "system"
        return {"footprint": fp.model_dump(mode="json"), "vs_estimate": compare(estimate, fp, unified=unified)}
    except (psutil.Error, OSError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
