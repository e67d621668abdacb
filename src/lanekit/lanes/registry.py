"""Owner records of live lanes: one JSON file per lane in the state dir.

A record names the engine's leader by pid + start ticks since boot (`procs.ProcIdentity`), so a
reused pid is recognised as stale and never signalled, and a wall-clock step cannot make a live
lane look stale. It also names the lanekit process that owns the lane: a lane whose owner died
(SIGKILL of the CLI) without being `detached` (as `lanekit up` lanes are) is an *orphan*.
Every process lanekit starts carries `LANEKIT_LANE=<name>` and `LANEKIT_HOME` in its
environment, which finds survivors whose leader is gone.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Literal

import psutil
from pydantic import BaseModel, Field

from lanekit.dirs import home, state_dir
from lanekit.errors import LaneNotFound
from lanekit.lanes import procs

OWNER_ENV = procs.OWNER_ENV
LaneState = Literal["live", "orphan", "leader-gone", "stale"]


class LaneRecord(BaseModel):
    """What lanekit knows about a lane it started."""

    name: str
    engine: str
    pid: int
    pgid: int
    create_time: float
    start_ticks: int | None = None
    boot_id: str | None = None
    host: str
    port: int
    base_url: str
    health_url: str
    metrics_url: str | None
    model_id: str
    served_ctx: int = Field(description="context per request: the server's own answer once ready")
    served_ctx_source: str | None = Field(None, description="where served_ctx came from (/props, ...); "
                                                            "None: the spec's value, not yet confirmed")
    asked_ctx: int | None = Field(None, description="context per request the lane spec asked for")
    log_path: str
    started_at: float
    mem_available_before_bytes: int
    gpu_free_before_bytes: int | None = None
    owner_pid: int
    owner_start_ticks: int | None = None
    owner_kind: str = Field("lanekit", description="what started it: up, bakeoff, eval, test ...")
    detached: bool = Field(False, description="meant to outlive its owner (`lanekit up`)")
    home: str | None = Field(None, description="LANEKIT_HOME of the owner")
    run_id: str | None = None
    stop_argv: list[str] | None = None
    argv0: str | None = None
    spec: dict[str, Any]

    @property
    def leader(self) -> procs.ProcIdentity:
        return procs.ProcIdentity(pid=self.pid, start_ticks=self.start_ticks, boot_id=self.boot_id,
                                  create_time=None if self.start_ticks is not None else self.create_time)

    def process(self) -> psutil.Process | None:
        """The live leader if it is still the process lanekit started, else None."""
        return self.leader.process()

    def is_alive(self) -> bool:
        return self.process() is not None

    def death_reason(self) -> str | None:
        """None while the engine's leader runs; else a sentence (for a lane this process did not start,
        the exit status is unknown: see its log)."""
        if self.is_alive():
            return None
        return f"lane {self.name}'s engine (pid {self.pid}) is gone; its log: {self.log_path}"

    def owner_alive(self) -> bool:
        """True while the lanekit process that started the lane is still running."""
        owner = procs.ProcIdentity(pid=self.owner_pid, start_ticks=self.owner_start_ticks, boot_id=self.boot_id)
        return owner.matches()

    def processes(self) -> list[psutil.Process]:
        """Every live process that is provably this lane's (leader, group, marked survivors)."""
        return procs.lane_processes(self.leader, self.pgid, self.name, self.home)

    def state(self) -> LaneState:
        """live; orphan (owner died, lane not detached); leader-gone (survivors hold on); stale."""
        if self.is_alive():
            return "live" if self.detached or self.owner_alive() else "orphan"
        return "leader-gone" if self.processes() else "stale"

    def ctx_warning(self) -> str | None:
        """A sentence when the server serves less context per request than the lane asked for."""
        if self.asked_ctx and self.served_ctx_source and self.served_ctx < self.asked_ctx:
            return (f"serves {self.served_ctx:,} tokens per request, not the {self.asked_ctx:,} asked "
                    f"(server {self.served_ctx_source}; llama-server caps a slot at the training context)")
        return None


def owner_identity() -> dict[str, Any]:
    """The owner fields for a record made by this process."""
    return {"owner_pid": os.getpid(), "owner_start_ticks": procs.start_ticks(os.getpid()), "home": str(home())}


def _path(name: str) -> Path:
    return state_dir() / f"{name}.json"


def write(record: LaneRecord) -> None:
    """Store (atomically) the record for a lane that is starting or running."""
    path = _path(record.name)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(record.model_dump_json(indent=2))
    tmp.replace(path)


def remove(name: str) -> None:
    _path(name).unlink(missing_ok=True)


def read(name: str) -> LaneRecord | None:
    path = _path(name)
    if not path.is_file():
        return None
    try:
        return LaneRecord.model_validate_json(path.read_text())
    except ValueError:
        return None


def all_records() -> list[LaneRecord]:
    """Every record on disk, live or stale."""
    records = []
    for path in sorted(state_dir().glob("*.json")):
        rec = read(path.stem)
        if rec is not None:
            records.append(rec)
    return records


def list_live(prune: bool = True) -> list[LaneRecord]:
    """Records with something still running (live, orphan or leader-gone); stale ones are dropped.

    A record whose leader died while its children still hold memory is kept: `lanekit down`
    stops those survivors."""
    live = []
    for rec in all_records():
        if rec.state() != "stale":
            live.append(rec)
        elif prune:
            remove(rec.name)
    return live


def orphans(owner_kind: str | None = None) -> list[LaneRecord]:
    """Lanes whose owning lanekit process died without stopping them (optionally of one kind)."""
    return [r for r in list_live(prune=True) if r.state() in ("orphan", "leader-gone") and not r.detached
            and (owner_kind is None or r.owner_kind == owner_kind)]


def find_live(name: str) -> LaneRecord:
    """The lane called `name` with something still running, or LaneNotFound naming the live ones."""
    rec = read(name)
    if rec is not None and rec.state() != "stale":
        return rec
    if rec is not None:
        remove(name)
    names = [r.name for r in list_live()]
    raise LaneNotFound(f"no live lane named {name!r}",
                       fix=f"live lanes: {', '.join(names)}" if names else "start one with `lanekit up`")


def uptime_s(rec: LaneRecord) -> float:
    return max(0.0, time.time() - rec.started_at)


def lanekit_processes(name: str | None = None) -> list[psutil.Process]:
    """Live processes that carry lanekit's owner marker (optionally for one lane)."""
    return procs.marked_processes(name)


def as_row(rec: LaneRecord) -> dict[str, Any]:
    """The `lanekit ps --json` row for a record."""
    state = rec.state()
    running = rec.processes()
    return {"name": rec.name, "state": state, "engine": rec.engine, "pid": rec.pid, "port": rec.port,
            "base_url": rec.base_url, "model": rec.model_id, "served_ctx": rec.served_ctx,
            "served_ctx_source": rec.served_ctx_source, "asked_ctx": rec.asked_ctx,
            "ctx_warning": rec.ctx_warning(), "owner_pid": rec.owner_pid, "owner_kind": rec.owner_kind,
            "detached": rec.detached, "run_id": rec.run_id, "uptime_s": round(uptime_s(rec), 1),
            "processes": len(running), "rss_bytes": procs.rss_bytes(running) if running else None,
            "log_path": rec.log_path}


def dumps_rows(rows: list[dict]) -> str:
    return json.dumps(rows, indent=2)
