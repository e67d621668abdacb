"""The SQLite results store: runs, per-request samples, summaries and per-lane steps.

Direct writes are their own committed transactions (WAL journal). Measurements reach the store
through a `StoreSink`: a queue drained by one writer thread, so a timed stream never waits on the
disk or on another process's write lock (they land in batches within milliseconds, and every
summary or step is written only after the samples queued before it). A run whose owner process is
gone while still `running` is reported as `interrupted`. Samples carry the lane's `attempt`, so a
resumed run never mixes an interrupted attempt's samples into the one that finished.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import secrets
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Self

from lanekit.errors import ConfigError

SCHEMA_VERSION = 2  # 2: samples.attempt

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
            cols = {r["name"] for r in self._conn.execute("PRAGMA table_info(samples)")}
            if "attempt" not in cols:  # a store written by schema 1
                self._conn.execute("ALTER TABLE samples ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0")
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._queue: queue.Queue = queue.Queue()
        self._writer: threading.Thread | None = None
        self._writer_error: BaseException | None = None
        atexit.register(_flush_at_exit, weakref.ref(self))

    def close(self) -> None:
        """Write what is queued, then close the connection."""
        self.flush()
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=30)
            self._writer = None
        with self._lock:
            self._conn.close()

    # -- the writer thread (measurements off the hot path) ----------------------------------
    def enqueue_samples(self, run_id: str, lane: str | None, scenario: str, rows: list[dict], attempt: int = 0) -> None:
        """Queue samples for the writer thread; returns at once (never touches the disk)."""
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = threading.Thread(target=self._drain, name="lanekit-store-writer", daemon=True)
                    self._writer.start()
        now = time.time()
        self._queue.put([(run_id, _lane_key(lane), scenario, now, _dumps(r), attempt) for r in rows])

    def _drain(self) -> None:
        stop = False
        while not stop:
            items = [self._queue.get()]
            while True:  # everything queued meanwhile goes into the same transaction
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rows = [row for item in items if item is not None for row in item]
            stop = any(item is None for item in items)
            try:
                self._insert(rows)
            except BaseException as exc:  # noqa: BLE001 - kept and re-raised by flush()
                self._writer_error = exc
            finally:
                for _ in items:
                    self._queue.task_done()

    def _insert(self, rows: list[tuple]) -> None:
        if not rows:
            return
        for run_id in {r[0] for r in rows}:
            self._claim(run_id)
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany("INSERT INTO samples (run_id, lane, scenario, t, data, attempt) "
                                       "VALUES (?,?,?,?,?,?)", rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def flush(self) -> None:
        """Block until every queued sample is written (raises what the writer hit, once)."""
        if self._writer is not None:
            self._queue.join()
        if self._writer_error is not None:
            exc, self._writer_error = self._writer_error, None
            raise exc

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

    def reopen_run(self, run_id: str) -> None:
        """A resumed run is running again, owned by this process."""
        self.flush()
        self._exec("UPDATE runs SET status='running', finished_at=NULL, pid=? WHERE run_id=?", (os.getpid(), run_id))
        self._claimed.add(run_id)

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
    def add_sample(self, run_id: str, lane: str | None, scenario: str, data: dict, attempt: int = 0) -> None:
        """Write (and commit) one sample now, after whatever is queued."""
        self.flush()
        self._insert([(run_id, _lane_key(lane), scenario, time.time(), _dumps(data), attempt)])

    def add_samples(self, run_id: str, lane: str | None, scenario: str, rows: list[dict], attempt: int = 0) -> None:
        """Write several samples in one transaction (side series: scrapes, telemetry)."""
        self.flush()
        now = time.time()
        self._insert([(run_id, _lane_key(lane), scenario, now, _dumps(r), attempt) for r in rows])

    def samples(self, run_id: str, lane: str | None = None, scenario: str | None = None,
                attempt: int | str | None = None) -> list[dict]:
        """Samples in write order: {"id", "lane", "scenario", "t", "attempt", "data"}.

        `attempt`: None for all, an int for one, "latest" for each lane's last attempt only.
        """
        self.flush()
        sql, params = "SELECT * FROM samples WHERE run_id=?", [run_id]
        if lane is not None:
            sql, params = sql + " AND lane=?", params + [lane]
        if scenario is not None:
            sql, params = sql + " AND scenario=?", params + [scenario]
        if isinstance(attempt, int):
            sql, params = sql + " AND attempt=?", params + [attempt]
        elif attempt == "latest":
            sql += " AND attempt = (SELECT MAX(s2.attempt) FROM samples s2 WHERE s2.run_id=samples.run_id AND s2.lane=samples.lane)"
        rows = self._exec(sql + " ORDER BY id", tuple(params)).fetchall()
        return [{"id": r["id"], "lane": _lane_out(r["lane"]), "scenario": r["scenario"], "t": r["t"],
                 "attempt": r["attempt"], "data": json.loads(r["data"])} for r in rows]

    def next_attempt(self, run_id: str, lane: str) -> int:
        """The attempt number a lane's next execution in this run gets (0 for the first)."""
        self.flush()
        row = self._exec("SELECT MAX(attempt) FROM samples WHERE run_id=? AND lane=?", (run_id, lane)).fetchone()
        steps = self._exec("SELECT COUNT(*) FROM lane_steps WHERE run_id=? AND lane=?", (run_id, lane)).fetchone()
        if row[0] is None:
            return 1 if steps[0] else 0
        return int(row[0]) + 1

    def set_summary(self, run_id: str, lane: str | None, scenario: str, summary: dict) -> None:
        """Store (or replace) the summary of one lane × scenario (after the samples queued before it)."""
        self.flush()
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
        self.flush()
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


def _flush_at_exit(ref: weakref.ref) -> None:
    store = ref()
    if store is not None:
        try:
            store.flush()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


class StoreSink:
    """Where a measurement writes: one run, one lane, one attempt; writes are queued, never waited on."""

    def __init__(self, store: Store, run_id: str, lane: str | None, attempt: int = 0) -> None:
        self.store, self.run_id, self.lane, self.attempt = store, run_id, lane, attempt

    def sample(self, scenario: str, data: dict) -> None:
        self.store.enqueue_samples(self.run_id, self.lane, scenario, [data], self.attempt)

    def samples(self, scenario: str, rows: list[dict]) -> None:
        if rows:
            self.store.enqueue_samples(self.run_id, self.lane, scenario, rows, self.attempt)

    def summary(self, scenario: str, summary: dict) -> None:
        self.store.set_summary(self.run_id, self.lane, scenario, summary)

    def flush(self) -> None:
        self.store.flush()
