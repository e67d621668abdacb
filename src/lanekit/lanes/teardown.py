"""Teardown of a lane, verified: SIGTERM what is provably the lane's, SIGKILL after the grace
period, then check the port is closed, no process of the lane is left and memory came back.

Signals reach only the lane's own processes (`procs.signal_lane`): the group while its leader is
ours, otherwise each member that carries the lane's marker, never a stranger that reused a pid or
a group id. Ctrl-C and SIGTERM are deferred until teardown ends (a second one used to abort it).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator

import psutil
from pydantic import BaseModel

from lanekit.lanes import procs, registry
from lanekit.lanes.guard import memory_pool, port_is_closed

GIB = 1 << 30
# Memory must come back to within this of the before-launch level (other processes move it too).
MEMORY_SLACK_MIN_BYTES = 1 * GIB
MEMORY_SLACK_FRACTION = 0.25  # of what the lane held just before it was stopped
MEMORY_SETTLE_S = 10.0


class TeardownReport(BaseModel):
    """What teardown did and what it verified afterwards."""

    name: str
    pid: int
    stop_s: float
    forced_kill: bool
    port_closed: bool
    processes_gone: bool
    survivors: list[int]
    mem_available_before_bytes: int
    mem_available_after_bytes: int
    lane_rss_bytes: int | None = None
    memory_slack_bytes: int | None = None
    gpu_free_before_bytes: int | None = None
    gpu_free_after_bytes: int | None = None

    @property
    def mem_delta_bytes(self) -> int:
        """After-teardown minus before-launch MemAvailable (≈0 or positive when memory came back)."""
        return self.mem_available_after_bytes - self.mem_available_before_bytes

    @property
    def memory_back(self) -> bool:
        """Host memory (and GPU memory on a discrete GPU) returned to the before-launch level, within slack."""
        slack = self.memory_slack_bytes if self.memory_slack_bytes is not None else MEMORY_SLACK_MIN_BYTES
        host_ok = self.mem_delta_bytes >= -slack
        gpu_ok = (self.gpu_free_before_bytes is None or self.gpu_free_after_bytes is None
                  or self.gpu_free_after_bytes - self.gpu_free_before_bytes >= -slack)
        return host_ok and gpu_ok

    @property
    def verified(self) -> bool:
        return self.port_closed and self.processes_gone and self.memory_back

    def summary(self) -> str:
        memory = ("memory back" if self.memory_back else
                  f"MEMORY NOT BACK ({-self.mem_delta_bytes / GIB:.2f} GiB short)")
        return (f"lane {self.name}: stopped in {self.stop_s:.1f}s{' (SIGKILL)' if self.forced_kill else ''}; "
                f"port {'closed' if self.port_closed else 'STILL OPEN'}; "
                f"processes {'gone' if self.processes_gone else f'SURVIVED {self.survivors}'}; {memory}: "
                f"{self.mem_available_before_bytes / GIB:.2f} GiB available before launch → "
                f"{self.mem_available_after_bytes / GIB:.2f} GiB after (Δ {self.mem_delta_bytes / GIB:+.2f} GiB)")


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Let teardown finish even if Ctrl-C or SIGTERM arrives again (main thread only)."""
    previous = {}
    try:
        for sig in procs.SIGNALS_DEFERRED:
            previous[sig] = signal.signal(sig, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _alive(procs_: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs_:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
    return out


def stop_lane_processes(rec: registry.LaneRecord, popen: subprocess.Popen | None = None) -> TeardownReport:
    """SIGTERM the lane, SIGKILL after `stop_grace_s`, then verify port, processes and memory."""
    grace = float(rec.spec.get("stop_grace_s", 10.0))
    t0 = time.monotonic()
    forced = False
    with signals_deferred():
        if rec.stop_argv:  # containers: the docker client dying does not stop the container
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(rec.stop_argv, check=False, timeout=grace + 30, capture_output=True)
        tracked = rec.processes()
        held = procs.rss_bytes(tracked)
        procs.signal_lane(rec.leader, rec.pgid, rec.name, rec.home, signal.SIGTERM)
        for p in tracked:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _, alive = psutil.wait_procs(tracked, timeout=grace)
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=0.1 if not alive else 0)
        alive = _alive(alive) + [p for p in rec.processes() if p not in alive]
        if alive:
            forced = True
            procs.signal_lane(rec.leader, rec.pgid, rec.name, rec.home, signal.SIGKILL)
            for p in alive:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            psutil.wait_procs(alive, timeout=5)
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=5)
        survivors = sorted({p.pid for p in _alive(tracked)} | {p.pid for p in rec.processes()})
        deadline = time.monotonic() + 5
        while not port_is_closed(rec.host, rec.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        report = _verify_memory(rec, held, TeardownReport(
            name=rec.name, pid=rec.pid, stop_s=0.0, forced_kill=forced, port_closed=port_is_closed(rec.host, rec.port),
            processes_gone=not survivors, survivors=survivors,
            mem_available_before_bytes=rec.mem_available_before_bytes, mem_available_after_bytes=0,
            lane_rss_bytes=held, gpu_free_before_bytes=rec.gpu_free_before_bytes))
        report.stop_s = time.monotonic() - t0
        if report.processes_gone:
            registry.remove(rec.name)
    return report


def _verify_memory(rec: registry.LaneRecord, held_bytes: int, report: TeardownReport) -> TeardownReport:
    """Wait (up to MEMORY_SETTLE_S) for memory to return to the before-launch level, within slack."""
    report.memory_slack_bytes = max(MEMORY_SLACK_MIN_BYTES, int(MEMORY_SLACK_FRACTION * held_bytes))
    deadline = time.monotonic() + (MEMORY_SETTLE_S if report.processes_gone else 0.0)
    while True:
        report.mem_available_after_bytes = memory_pool(uses_gpu=False).available_bytes
        pool = memory_pool()
        report.gpu_free_after_bytes = pool.available_bytes if pool.kind == "gpu" else None
        if report.memory_back or time.monotonic() >= deadline:
            return report
        time.sleep(0.25)
