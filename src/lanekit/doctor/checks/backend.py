"""The lane runs on the GPU this box has: a CPU-only llama.cpp build, or a lane that offloaded no
layer, on a box with an NVIDIA GPU is a failure (its speed would be judged against the GPU).

llama.cpp: the lane's process is found through lanekit's owner record (same base URL) or, on a
loopback URL, the process listening on its port; then `lanes.backend.check_lane` reads the build's
devices, the load log and the GPU memory NVML attributes to the process. Ollama: `/api/ps`
reports how much of the model sits in VRAM (`size_vram` of `size`).
"""

from __future__ import annotations

import contextlib
import os
from urllib.parse import urlparse

from lanekit.doctor.report import CheckResult

NAME = "backend"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def applies(probe) -> bool:
    return probe.detect_engine() in ("llamacpp", "ollama")


def _record(probe):
    """lanekit's owner record of the live lane behind this URL, if lanekit started it."""
    from lanekit.lanes import registry

    root = probe.root.rstrip("/")
    for rec in registry.list_live(prune=False):
        if rec.base_url.rstrip("/").removesuffix("/v1") == root:
            return rec
    return None


def _listener(probe):
    """(exe, pid, argv) of the local process listening on the URL's port (None when not local)."""
    import psutil

    url = urlparse(probe.root)
    if (url.hostname or "") not in LOOPBACK or not url.port:
        return None
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == url.port and conn.pid:
                proc = psutil.Process(conn.pid)
                return proc.exe(), proc.pid, proc.cmdline()
    return None


def _ngl(argv: list[str]) -> int | None:
    for flag in ("-ngl", "--gpu-layers", "--n-gpu-layers"):
        if flag in argv[:-1]:
            with contextlib.suppress(ValueError):
                return int(argv[argv.index(flag) + 1])
    return None


def _model_bytes(argv: list[str]) -> int | None:
    for flag in ("-m", "--model"):
        if flag in argv[:-1]:
            with contextlib.suppress(OSError):
                return os.path.getsize(argv[argv.index(flag) + 1])
    return None


def _llamacpp(probe) -> CheckResult:
    from lanekit.lanes.backend import check_lane

    rec, found = _record(probe), _listener(probe)
    if rec is not None and rec.argv0:
        argv = found[2] if found else [rec.argv0]
        spec_ngl = (rec.spec or {}).get("gpu_layers")
        verdict = check_lane(rec.argv0, pid=rec.pid, log_path=rec.log_path,
                             gpu_layers=spec_ngl if spec_ngl is not None else _ngl(argv),
                             model_bytes=_model_bytes(argv))
    elif found is not None:
        exe, pid, argv = found
        verdict = check_lane(exe, pid=pid, gpu_layers=_ngl(argv), model_bytes=_model_bytes(argv))
    else:
        from lanekit.lanes.build_plan import nvidia_gpus

        if not nvidia_gpus():
            return CheckResult(name=NAME, status="pass", detail="no NVIDIA GPU on this box (remote server not checked)")
        return CheckResult(name=NAME, status="warn", detail=f"{probe.root} is not a local process: cannot check its "
                           "build or offload", fix="run `lanekit doctor` on the box that serves the lane")
    return CheckResult(name=NAME, status=verdict.status, detail=verdict.detail, fix=verdict.fix)


def _ollama(probe) -> CheckResult:
    reply = probe.get(probe.root + "/api/ps")
    if not reply.ok:
        return CheckResult(name=NAME, status="warn", detail=f"/api/ps did not answer (HTTP {reply.status})",
                           fix="check `ollama ps` by hand: PROCESSOR should read 100% GPU")
    from lanekit.lanes.build_plan import nvidia_gpus

    want = probe.model_name().split(":")[0]
    for m in reply.body.get("models", []):
        if not str(m.get("name", "")).startswith(want):
            continue
        size, vram = int(m.get("size") or 0), int(m.get("size_vram") or 0)
        share = vram / size if size else 0.0
        if not nvidia_gpus():
            return CheckResult(name=NAME, status="pass", detail=f"no NVIDIA GPU on this box ({share:.0%} in VRAM)")
        if share == 0:
            return CheckResult(name=NAME, status="fail", detail="Ollama keeps the whole model on the CPU (size_vram 0)",
                               fix="check that Ollama sees the GPU (`ollama ps`, its server log: 'inference compute')")
        if share < 0.99:
            return CheckResult(name=NAME, status="warn", detail=f"only {share:.0%} of the model is in VRAM",
                               fix="lower OLLAMA_CONTEXT_LENGTH / OLLAMA_NUM_PARALLEL or use a smaller quant")
        return CheckResult(name=NAME, status="pass", detail=f"{share:.0%} of the model in VRAM "
                           f"({vram / 2**30:.2f} GiB)")
    return CheckResult(name=NAME, status="warn", detail=f"/api/ps lists no loaded model {want!r}",
                       fix="load the model first (a request, or `ollama run`)")


def run(probe) -> CheckResult:
    engine = probe.detect_engine()
    return _ollama(probe) if engine == "ollama" else _llamacpp(probe)

