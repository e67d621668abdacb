"""The SQLite results store: runs, per-request samples, summaries and per-lane steps.

Every write is its own committed transaction (WAL journal), so a run killed with SIGKILL keeps
every sample it had measured. A run whose owner process is gone while still `running` is
reported as `interrupted`.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Self

from lanekit.errors import ConfigError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL,
    finished_at REAL, pid INTEGER, meta TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, lane TEXT NOT NULL, scenario TEXT NOT NULL,
    t REAL NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS samples_run ON samples (run_id, lane, scenario);
CREATE TABLE IF NOT EXISTS summaries (
    run_id TEXT NOT NULL, lane TEXT NOT NULL, scenario TEXT NOT NULL, summary TEXT NOT NULL,
    updated_at REAL NOT NULL, PRIMARY KEY (run_id, lane, scenario));
CREATE TABLE IF NOT EXISTS lane_steps (
    run_id TEXT NOT NULL, lane TEXT NOT NULL, step TEXT NOT NULL, status TEXT NOT NULL,
    detail TEXT NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (run_id, lane, step));
"""


# `n_samples` counts measurements, not the side series (scrapes, telemetry) stored beside them
SIDE_SERIES = ("scrape", "telemetry")
_COUNT_MEASURED = ("COALESCE(SUM(CASE WHEN json_extract(data, '$.kind') IN ('scrape', 'telemetry') "
                   "THEN 0 ELSE 1 END), 0)")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


def _lane_key(lane: str | None) -> str:
    return lane or ""


def _lane_out(lane: str) -> str | None:
    return lane or None


def new_run_id(now: float | None = None) -> str:
    """A sortable run id: local time to the second plus four random hex digits."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + "-" + secrets.token_hex(2)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """A results database. `Store()` opens `lanekit.dirs.results_db()`; safe to share between threads."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from lanekit.dirs import results_db

            path = results_db()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit (isolation_level=None): each statement is durable once it returns
        self._conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._claimed: set[str] = set()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the connection (every write is already committed)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _exec(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def _claim(self, run_id: str) -> None:
        """Whoever writes to a running run owns it now (a resumed run changes process)."""
        if run_id in self._claimed:
            return
        self._exec("UPDATE runs SET pid=? WHERE run_id=? AND status='running'", (os.getpid(), run_id))
        self._claimed.add(run_id)

    # -- runs ------------------------------------------------------------------------------
    def new_run(self, kind: str, meta: dict) -> str:
        """Create a run in status `running`; returns its id, e.g. "20261123-193000-ab12"."""
        now = time.time()
        while True:
            run_id = new_run_id(now)
            try:
                self._exec("INSERT INTO runs (run_id, kind, status, created_at, pid, meta) VALUES (?,?,?,?,?,?)",
                           (run_id, kind, "running", now, os.getpid(), _dumps(meta or {})))
            except sqlite3.IntegrityError:
                continue
            self._claimed.add(run_id)
            return run_id

    def set_run_meta(self, run_id: str, meta: dict) -> None:
        """Merge `meta` into the run's meta (keys given replace existing ones)."""
        with self._lock:
            current = self.get_run(run_id)["meta"]
            current.update(meta)
            self._exec("UPDATE runs SET meta=? WHERE run_id=?", (_dumps(current), run_id))

    def finish_run(self, run_id: str, status: str) -> None:
        """Mark a run finished with `status` (e.g. "done", "failed", "interrupted")."""
        self._exec("UPDATE runs SET status=?, finished_at=? WHERE run_id=?", (status, time.time(), run_id))

    def _run_row(self, row: sqlite3.Row) -> dict:
        status = row["status"]
        if status == "running" and not _pid_alive(row["pid"]):
            status = "interrupted"  # owner died without finishing (killed, crashed)
        return {"run_id": row["run_id"], "kind": row["kind"], "status": status, "created_at": row["created_at"],
                "finished_at": row["finished_at"], "pid": row["pid"], "meta": json.loads(row["meta"])}

    def list_runs(self) -> list[dict]:
        """Every run, newest first, with its sample count and lanes."""
        rows = self._exec("SELECT * FROM runs ORDER BY created_at DESC, run_id DESC").fetchall()
        counts = {r["run_id"]: (r["n"], r["lanes"]) for r in self._exec(
            f"SELECT run_id, {_COUNT_MEASURED} AS n, GROUP_CONCAT(DISTINCT lane) AS lanes FROM samples GROUP BY run_id")}
        out = []
        for row in rows:
            run = self._run_row(row)
            n, lanes = counts.get(run["run_id"], (0, None))
            run["n_samples"] = n
            run["lanes"] = sorted(x for x in (lanes or "").split(",") if x)
            out.append(run)
        return out

    def resolve_run_id(self, ref: str) -> str:
        """A full run id from an id, a unique prefix, or "latest"."""
        if ref == "latest":
            row = self._exec("SELECT run_id FROM runs ORDER BY created_at DESC, run_id DESC LIMIT 1").fetchone()
        else:
            rows = self._exec("SELECT run_id FROM runs WHERE run_id = ? OR run_id LIKE ? ORDER BY run_id",
                              (ref, ref.replace("%", "") + "%")).fetchall()
            exact = [r for r in rows if r["run_id"] == ref]
            row = exact[0] if exact else (rows[0] if len(rows) == 1 else None)
            if len(rows) > 1 and not exact:
                raise ConfigError(f"run {ref!r} is ambiguous ({len(rows)} runs match)",
                                  fix="give more of the id; `lanekit runs` lists them")
        if row is None:
            raise ConfigError(f"no run {ref!r} in {self.path}", fix="`lanekit runs` lists the stored runs")
        return row["run_id"]

    def get_run(self, run_id: str) -> dict:
        """One run (id, unique prefix or "latest"); raises ConfigError when there is none."""
        run_id = self.resolve_run_id(run_id)
        row = self._exec("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        run = self._run_row(row)
        run["n_samples"] = self._exec(f"SELECT {_COUNT_MEASURED} FROM samples WHERE run_id=?", (run_id,)).fetchone()[0]
        return run

    # -- samples and summaries -------------------------------------------------------------
    def add_sample(self, run_id: str, lane: str | None, scenario: str, data: dict) -> None:
        """Write (and commit) one measured sample now."""
        self._claim(run_id)
        self._exec("INSERT INTO samples (run_id, lane, scenario, t, data) VALUES (?,?,?,?,?)",
                   (run_id, _lane_key(lane), scenario, time.time(), _dumps(data)))

    def add_samples(self, run_id: str, lane: str | None, scenario: str, rows: list[dict]) -> None:
        """Write several samples in one transaction (side series: scrapes, telemetry)."""
        if not rows:
            return
        self._claim(run_id)
        now = time.time()
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany("INSERT INTO samples (run_id, lane, scenario, t, data) VALUES (?,?,?,?,?)",
                                       [(run_id, _lane_key(lane), scenario, now, _dumps(r)) for r in rows])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def samples(self, run_id: str, lane: str | None = None, scenario: str | None = None) -> list[dict]:
        """Samples in write order: {"id", "lane", "scenario", "t", "data"}."""
        sql, params = "SELECT * FROM samples WHERE run_id=?", [run_id]
        if lane is not None:
            sql, params = sql + " AND lane=?", params + [lane]
        if scenario is not None:
            sql, params = sql + " AND scenario=?", params + [scenario]
        rows = self._exec(sql + " ORDER BY id", tuple(params)).fetchall()
        return [{"id": r["id"], "lane": _lane_out(r["lane"]), "scenario": r["scenario"], "t": r["t"],
                 "data": json.loads(r["data"])} for r in rows]

    def set_summary(self, run_id: str, lane: str | None, scenario: str, summary: dict) -> None:
        """Store (or replace) the summary of one lane × scenario."""
        self._claim(run_id)
        self._exec("INSERT INTO summaries (run_id, lane, scenario, summary, updated_at) VALUES (?,?,?,?,?) "
                   "ON CONFLICT (run_id, lane, scenario) DO UPDATE SET summary=excluded.summary, "
                   "updated_at=excluded.updated_at", (run_id, _lane_key(lane), scenario, _dumps(summary), time.time()))

    def summaries(self, run_id: str) -> list[dict]:
        """Summaries of a run in the order first written: {"lane", "scenario", "summary", "updated_at"}."""
        rows = self._exec("SELECT * FROM summaries WHERE run_id=? ORDER BY rowid", (run_id,)).fetchall()
        return [{"lane": _lane_out(r["lane"]), "scenario": r["scenario"], "summary": json.loads(r["summary"]),
                 "updated_at": r["updated_at"]} for r in rows]

    # -- per-lane steps (bakeoff progress and resume) --------------------------------------
    def set_lane_step(self, run_id: str, lane: str, step: str, status: str, detail: dict) -> None:
        """Record (or update) the status of one step of one lane, e.g. ("qwen-q4", "bench", "done", {...})."""
        self._claim(run_id)
        self._exec("INSERT INTO lane_steps (run_id, lane, step, status, detail, updated_at) VALUES (?,?,?,?,?,?) "
                   "ON CONFLICT (run_id, lane, step) DO UPDATE SET status=excluded.status, "
                   "detail=excluded.detail, updated_at=excluded.updated_at",
                   (run_id, _lane_key(lane), step, status, _dumps(detail or {}), time.time()))

    def lane_steps(self, run_id: str, lane: str | None = None) -> list[dict]:
        """Steps in the order first recorded: {"lane", "step", "status", "detail", "updated_at"}."""
        sql, params = "SELECT * FROM lane_steps WHERE run_id=?", (run_id,)
        if lane is not None:
            sql, params = sql + " AND lane=?", (run_id, lane)
        rows = self._exec(sql + " ORDER BY rowid", params).fetchall()
        return [{"lane": _lane_out(r["lane"]), "step": r["step"], "status": r["status"],
                 "detail": json.loads(r["detail"]), "updated_at": r["updated_at"]} for r in rows]
