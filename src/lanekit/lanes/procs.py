"""Process identity that a clock step cannot move, and signals that never reach a stranger.

A pid is lanekit's only while it is the same process lanekit started: same boot, same start time
in clock ticks since boot (`/proc/<pid>/stat` field 22). psutil's `create_time()` is wall-clock
(boot time is derived from "now − uptime"), so an NTP step moved it and a live lane was taken
for a reused pid. A process group is signalled as a group only while its leader is ours;
otherwise each member is checked (identity or the owner marker in its environment) and
signalled alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import psutil
from pydantic import BaseModel

OWNER_ENV = "LANEKIT_LANE"
HOME_ENV = "LANEKIT_HOME"


def boot_id() -> str | None:
    """The kernel's id of this boot (a pid + start tick pair is unique within one boot)."""
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return None


def start_ticks(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (None when it is gone or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = raw[raw.rfind(")") + 2:].split()
    try:
        return int(fields[19])  # field 22 overall; fields[0] here is field 3 (state)
    except (IndexError, ValueError):
        return None


class ProcIdentity(BaseModel):
    """Who a process is, in terms that survive clock steps: pid, start ticks, boot."""

    pid: int
    start_ticks: int | None = None
    boot_id: str | None = None
    create_time: float | None = None  # fallback where /proc is not available

    @classmethod
    def of(cls, pid: int) -> ProcIdentity:
        """The identity of the live process `pid` now."""
        create = None
        with contextlib.suppress(psutil.Error):
            create = psutil.Process(pid).create_time()
        return cls(pid=pid, start_ticks=start_ticks(pid), boot_id=boot_id(), create_time=create)

    def matches(self) -> bool:
        """True while `pid` is still this very process (and not a zombie)."""
        if self.start_ticks is not None:
            if self.boot_id is not None and boot_id() not in (None, self.boot_id):
                return False
            if start_ticks(self.pid) != self.start_ticks:
                return False
        elif self.create_time is not None:
            try:
                if abs(psutil.Process(self.pid).create_time() - self.create_time) > 0.05:
                    return False
            except psutil.Error:
                return False
        return _running(self.pid)

    def process(self) -> psutil.Process | None:
        """The psutil handle when `matches()`, else None."""
        if not self.matches():
            return None
        with contextlib.suppress(psutil.Error):
            return psutil.Process(self.pid)
        return None


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def carries_marker(proc: psutil.Process, lane: str, home: str | None) -> bool:
    """True when `proc`'s environment says lanekit started it for `lane` (in `home`, when given)."""
    try:
        env = proc.environ()
    except (psutil.Error, OSError):
        return False
    return env.get(OWNER_ENV) == lane and (home is None or env.get(HOME_ENV, home) == home)


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, OSError):
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                members.append(proc)
    return members


def marked_processes(lane: str | None = None, home: str | None = None) -> list[psutil.Process]:
    """Live processes carrying lanekit's owner marker (for `lane`, in `home`, when given)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            env = proc.environ()
            marker = env.get(OWNER_ENV)
            if not marker or (lane is not None and marker != lane):
                continue
            if home is not None and env.get(HOME_ENV, home) != home:
                continue
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def signal_lane(leader: ProcIdentity, pgid: int, lane: str, home: str | None, sig: int) -> list[int]:
    """Send `sig` to what is provably the lane's: the whole group while the leader is ours,
    else each group member or marked process that carries the lane's marker. Returns the pids."""
    targets: dict[int, psutil.Process] = {}
    if leader.matches():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
            return [p.pid for p in group_members(pgid)] or [leader.pid]
    for proc in [*group_members(pgid), *marked_processes(lane, home)]:
        if carries_marker(proc, lane, home):
            targets[proc.pid] = proc
    for proc in targets.values():
        with contextlib.suppress(psutil.Error, OSError):
            proc.send_signal(sig)
    return sorted(targets)


def lane_processes(leader: ProcIdentity, pgid: int, lane: str, home: str | None) -> list[psutil.Process]:
    """Every live process that is the lane's: the leader and its descendants while it is ours,
    group members and marked processes that carry the lane's marker."""
    found: dict[int, psutil.Process] = {}
    proc = leader.process()
    if proc is not None:
        found[proc.pid] = proc
        with contextlib.suppress(psutil.Error):
            for child in proc.children(recursive=True):
                found[child.pid] = child
        for member in group_members(pgid):
            found.setdefault(member.pid, member)
    for cand in [*group_members(pgid), *marked_processes(lane, home)]:
        if cand.pid not in found and carries_marker(cand, lane, home):
            found[cand.pid] = cand
    return [p for p in found.values() if _running(p.pid)]


def rss_bytes(procs: list[psutil.Process]) -> int:
    """Summed resident memory of `procs` (processes that vanish count 0)."""
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


SIGNALS_DEFERRED = (signal.SIGINT, signal.SIGTERM)
