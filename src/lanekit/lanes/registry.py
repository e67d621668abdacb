"""Owner records of live lanes: one JSON file per lane in the state dir.

A record names the pid *and* its start time, so a reused pid is recognised as stale and
never signalled. Every process lanekit starts carries `LANEKIT_LANE=<name>` in its
environment, which lets `lanekit_processes()` find survivors even without a record.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel, Field

from lanekit.dirs import state_dir
from lanekit.errors import LaneNotFound

OWNER_ENV = "LANEKIT_LANE"


class LaneRecord(BaseModel):
    """What lanekit knows about a lane it started."""

    name: str
    engine: str
    pid: int
    pgid: int
    create_time: float
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
    stop_argv: list[str] | None = None
    argv0: str | None = None
    spec: dict[str, Any]

    def process(self) -> psutil.Process | None:
        """The live process if it is still the one lanekit started, else None."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.05:
                return None  # pid reused by an unrelated process
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    def is_alive(self) -> bool:
        return self.process() is not None

    def ctx_warning(self) -> str | None:
        """A sentence when the server serves less context per request than the lane asked for."""
        if self.asked_ctx and self.served_ctx_source and self.served_ctx < self.asked_ctx:
            return (f"serves {self.served_ctx:,} tokens per request, not the {self.asked_ctx:,} asked "
                    f"(server {self.served_ctx_source}; llama-server caps a slot at the training context)")
        return None


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
    """Records whose process is still the one lanekit started; stale ones are dropped."""
    live = []
    for rec in all_records():
        if rec.is_alive():
            live.append(rec)
        elif prune:
            remove(rec.name)
    return live


def find_live(name: str) -> LaneRecord:
    """The live lane called `name`, or LaneNotFound naming the live ones."""
    rec = read(name)
    if rec is not None and rec.is_alive():
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
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            env = proc.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
        marker = env.get(OWNER_ENV)
        if marker and (name is None or marker == name):
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.NoSuchProcess:
                continue
    return found


def as_row(rec: LaneRecord) -> dict[str, Any]:
    """The `lanekit ps --json` row for a record."""
    proc = rec.process()
    rss = None
    if proc is not None:
        try:
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
        except psutil.Error:
            rss = None
    return {"name": rec.name, "engine": rec.engine, "pid": rec.pid, "port": rec.port, "base_url": rec.base_url,
            "model": rec.model_id, "served_ctx": rec.served_ctx, "served_ctx_source": rec.served_ctx_source,
            "asked_ctx": rec.asked_ctx, "ctx_warning": rec.ctx_warning(), "uptime_s": round(uptime_s(rec), 1),
            "rss_bytes": rss, "log_path": rec.log_path}


def dumps_rows(rows: list[dict]) -> str:
    return json.dumps(rows, indent=2)
