"""Lane lifecycle: an explicit state machine that guards, starts, warms and tears down a lane.

    stopped → starting → ready → stopping → stopped
                 ↘ failed ↗        ↘ failed

Every state change goes through `Lane._set_state`. Teardown (`lanes/teardown.py`) signals only
the lane's own processes (SIGTERM, grace, SIGKILL), then *verifies*: port closed, processes
gone, memory back.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections import deque
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

import httpx
import psutil

from lanekit.dirs import home, log_dir
from lanekit.errors import LaneStartError
from lanekit.lanes import procs, registry
from lanekit.lanes.engine import Engine, engine_for
from lanekit.lanes.guard import check_fits, memory_pool, pick_port, require_port
from lanekit.lanes.spec import LaneSpec
from lanekit.lanes.teardown import TeardownReport, stop_lane_processes

__all__ = ["Lane", "LaneState", "TeardownReport", "down", "serve_lane", "stop_process_group", "tail"]
stop_process_group = stop_lane_processes


class LaneState(str, Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    FAILED = "failed"


_ALLOWED = {
    LaneState.STOPPED: {LaneState.STARTING},
    LaneState.STARTING: {LaneState.READY, LaneState.FAILED, LaneState.STOPPING},
    LaneState.READY: {LaneState.STOPPING},
    LaneState.STOPPING: {LaneState.STOPPED, LaneState.FAILED},
    LaneState.FAILED: {LaneState.STOPPING, LaneState.STOPPED},
}


def tail(path: str | Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file (empty when it does not exist)."""
    try:
        with open(path, errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines)).rstrip()
    except OSError:
        return ""


class Lane:
    """One lane: spec + engine + the process once started. Use `serve_lane` for a scoped lane."""

    def __init__(self, spec: LaneSpec, engine: Engine | None = None, *, owner_kind: str = "lanekit",
                 detached: bool = False, run_id: str | None = None, stop_orphan: bool = False) -> None:
        if type(spec) is LaneSpec:  # a bare base spec: re-validate into the engine's own spec class
            from lanekit.lanes.spec import parse_lane

            spec = parse_lane(spec.model_dump(exclude_unset=True), where=spec.name)
        self.spec = spec
        self.engine = engine or engine_for(spec)
        self.state = LaneState.STOPPED
        self.port: int | None = spec.port
        self.popen: subprocess.Popen | None = None
        self.record: registry.LaneRecord | None = None
        self.estimate = None
        self.free_after_bytes: int | None = None
        self.ready_s: float | None = None
        self.teardown: TeardownReport | None = None
        self.owner_kind, self.detached, self.run_id = owner_kind, detached, run_id
        self.stop_orphan = stop_orphan  # an orphan of a dead lanekit under this name is stopped, not refused
        self.orphan_report: TeardownReport | None = None

    # -- state machine -------------------------------------------------------------------
    def _set_state(self, new: LaneState) -> None:
        if new not in _ALLOWED[self.state]:
            raise RuntimeError(f"lane {self.spec.name}: illegal transition {self.state.value} → {new.value}")
        self.state = new

    # -- URLs ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.engine.base_url(self.spec, self._port())

    @property
    def metrics_url(self) -> str | None:
        return self.engine.metrics_url(self.spec, self._port())

    @property
    def model_id(self) -> str:
        return self.engine.model_id(self.spec)

    @property
    def log_path(self) -> str | None:
        return self.record.log_path if self.record else None

    def _port(self) -> int:
        if self.port is None:
            raise RuntimeError("lane has no port until it is started")
        return self.port

    # -- steps -----------------------------------------------------------------------------
    def check(self, preflight: bool = True) -> None:
        """Everything that can be refused before a process exists: binary, model, memory, port, and
        (with `preflight`) whether the engine's build runs on this host at all."""
        self.engine.binary(self.spec)
        self.estimate = self.engine.memory_estimate(self.spec)
        pool = memory_pool(uses_gpu=getattr(self.spec, "gpu_layers", None) != 0)
        self.free_after_bytes = check_fits(self.estimate, pool, self.spec.headroom_bytes, self.spec.name)
        self._check_existing()
        if self.port is None:
            self.port = pick_port(self.spec.host)
        else:
            require_port(self.spec.host, self.port)
        engine_preflight = getattr(self.engine, "preflight", None)
        if preflight and engine_preflight is not None:
            engine_preflight(self.spec)

    def _check_existing(self) -> None:
        """Refuse a name that is running; an orphan of a dead lanekit is stopped when allowed."""
        from lanekit.errors import ConfigError

        existing = registry.read(self.spec.name)
        if existing is None:
            return
        state = existing.state()
        if state == "stale":
            registry.remove(existing.name)
            return
        if state in ("orphan", "leader-gone") and self.stop_orphan:
            self.orphan_report = stop_lane_processes(existing)
            if not self.orphan_report.processes_gone:
                raise ConfigError(f"an orphan of lane {self.spec.name!r} survived its teardown "
                                  f"(pids {self.orphan_report.survivors})", fix="stop them by hand (kill -9)")
            return
        if state in ("orphan", "leader-gone"):
            raise ConfigError(f"lane {self.spec.name!r} is an orphan: its lanekit process (pid {existing.owner_pid}) "
                              f"died and left it running (pid {existing.pid})",
                              fix=f"stop it with `lanekit down {self.spec.name}` or `lanekit down --orphans`")
        raise ConfigError(f"a lane named {self.spec.name!r} is already running (pid {existing.pid}, owned by "
                          f"{existing.owner_kind} pid {existing.owner_pid})",
                          fix=f"stop it with `lanekit down {self.spec.name}` or choose another --name")

    def start(self) -> None:
        """Guard, launch in a new process group with logs to a file, and record ownership."""
        self._set_state(LaneState.STARTING)
        try:
            self.check()
            argv = self.engine.argv(self.spec, self._port())
        except BaseException:
            self.state = LaneState.FAILED
            self._set_state(LaneState.STOPPED)
            raise
        env = {**os.environ, **self.engine.env(self.spec), registry.OWNER_ENV: self.spec.name,
               procs.HOME_ENV: str(home())}
        log_path = log_dir() / f"{self.spec.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        gpu_pool = memory_pool()
        mem_before = memory_pool(uses_gpu=False).available_bytes
        with open(log_path, "ab") as log:
            log.write(("$ " + " ".join(argv) + "\n").encode())
            log.flush()
            self.popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env, start_new_session=True)
        leader = procs.ProcIdentity.of(self.popen.pid)
        self.record = registry.LaneRecord(
            name=self.spec.name, engine=self.spec.engine, pid=self.popen.pid, pgid=self.popen.pid,
            create_time=leader.create_time or time.time(), start_ticks=leader.start_ticks, boot_id=leader.boot_id,
            host=self.spec.host, port=self._port(), base_url=self.base_url,
            health_url=self.engine.health_url(self.spec, self._port()), metrics_url=self.metrics_url,
            model_id=self.model_id, served_ctx=self.engine.served_ctx(self.spec), asked_ctx=self.spec.ctx,
            log_path=str(log_path),
            started_at=time.time(), mem_available_before_bytes=mem_before,
            gpu_free_before_bytes=gpu_pool.available_bytes if gpu_pool.kind == "gpu" else None,
            **registry.owner_identity(), owner_kind=self.owner_kind, detached=self.detached, run_id=self.run_id,
            stop_argv=self.engine.stop_argv(self.spec), argv0=argv[0],
            spec=self.spec.model_dump(mode="json"))
        registry.write(self.record)

    def warm(self, timeout_s: float | None = None) -> float:
        """Poll health until 200; fail fast with the log tail if the engine exits. Returns seconds."""
        assert self.popen is not None and self.record is not None, "start() first"
        timeout_s = timeout_s or self.spec.warm_timeout_s
        t0 = time.monotonic()
        deadline = t0 + timeout_s
        delay = 0.05
        with httpx.Client(timeout=2.0) as client:
            while True:
                code = self.popen.poll()
                if code is not None:
                    self._fail_exit(code)
                try:
                    if client.get(self.record.health_url).status_code == 200 and self._owns_port():
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self._fail(f"not healthy after {timeout_s:.0f}s",
                               fix="raise warm_timeout_s for large models, or read `lanekit logs`")
                time.sleep(delay)
                delay = min(delay * 1.5, 0.5)
        prepare = getattr(self.engine, "prepare", None)
        if prepare is not None:  # e.g. Ollama: the daemon is up, now pull/create and load the model
            try:
                prepare(self.spec, self._port())
            except LaneStartError:
                self._set_state(LaneState.FAILED)
                raise
        self.ready_s = time.monotonic() - t0
        self._record_served_ctx()
        self._set_state(LaneState.READY)
        return self.ready_s

    def _record_served_ctx(self) -> None:
        """Ask the server what context it serves per request and keep it in the owner record."""
        from lanekit.endpoint.probe import served_context

        served = served_context(self.base_url, timeout_s=10.0, model=self.model_id)
        if served.per_request is None or self.record is None:
            return
        self.record.served_ctx = served.per_request
        self.record.served_ctx_source = served.source
        registry.write(self.record)

    @property
    def served_ctx_warning(self) -> str | None:
        """Set when the server serves less context per request than the lane asked for."""
        return self.record.ctx_warning() if self.record else None

    def _owns_port(self) -> bool:
        """True when the listener on our port is in our process group (not a server that raced us)."""
        try:
            conns = psutil.net_connections(kind="tcp")
        except (psutil.AccessDenied, OSError):
            return True  # cannot tell without privileges; trust the health answer
        pids = {c.pid for c in conns if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.port}
        if not pids or None in pids:
            return True
        for pid in pids:
            try:
                if os.getpgid(pid) == self.record.pgid:
                    return True
            except OSError:
                continue
        return False

    # -- liveness --------------------------------------------------------------------------
    def death_reason(self) -> str | None:
        """None while the engine runs; once it has died, how (exit status or signal, telling log line).

        Cheap (a process poll): the load scenarios and the agent loop call it between requests."""
        from lanekit.lanes.exits import describe_exit, last_error_line

        if self.record is None:
            return None
        code = self.popen.poll() if self.popen is not None else None
        if code is None and self.popen is None and self.record.is_alive():
            return None
        if code is None and self.popen is not None:
            return None
        program = Path(self.record.argv0).name if self.record.argv0 else self.spec.engine
        how = describe_exit(code) if code is not None else "is gone"
        line = last_error_line(self.log_tail())
        return f"{program} {how} while the lane was in use" + (f": {line}" if line else "")

    def require_alive(self, health: bool = True) -> None:
        """Raise LaneStartError (with the log tail) if the engine died or stopped answering /health."""
        reason = self.death_reason()
        if reason is None and health and self.record is not None:
            try:
                with httpx.Client(timeout=5.0) as client:
                    status = client.get(self.record.health_url).status_code
                if status != 200:
                    reason = f"{self.spec.engine} answers /health with HTTP {status}"
            except httpx.HTTPError as exc:
                reason = f"{self.spec.engine} does not answer /health ({type(exc).__name__})"
        if reason is not None:
            code = self.popen.poll() if self.popen is not None else None
            engine_fix = getattr(self.engine, "exit_fix", None)
            fix = (engine_fix(code) if engine_fix and code is not None else None) or f"read {self.log_path}"
            raise LaneStartError(f"lane {self.spec.name!r}: {reason}", fix=fix, log_tail=self.log_tail())

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.record.log_path, lines) if self.record else ""

    def _fail_exit(self, code: int) -> None:
        """The engine process ended during warm-up: name the signal, the telling log line, the fix."""
        from lanekit.lanes.exits import describe_exit, generic_exit_fix, last_error_line

        log_tail = tail(self.record.log_path) if self.record else ""
        program = Path(self.record.argv0).name if self.record and self.record.argv0 else self.spec.engine
        line = last_error_line(log_tail)
        engine_fix = getattr(self.engine, "exit_fix", None)
        fix = (engine_fix(code) if engine_fix else None) or generic_exit_fix(code)
        self._fail(f"{program} {describe_exit(code)} while loading" + (f": {line}" if line else ""), fix=fix)

    def _fail(self, message: str, fix: str | None = None) -> None:
        self._set_state(LaneState.FAILED)
        log_tail = tail(self.record.log_path) if self.record else ""
        raise LaneStartError(f"lane {self.spec.name!r}: {message}", fix=fix or f"see {self.log_path}",
                             log_tail=log_tail)

    def stop(self) -> TeardownReport | None:
        """Tear down (idempotent) and return the verified report."""
        if self.record is None or self.state == LaneState.STOPPED:
            if self.state != LaneState.STOPPED:
                self.state = LaneState.STOPPED
            return self.teardown
        self._set_state(LaneState.STOPPING)
        report = stop_lane_processes(self.record, self.popen)
        self.teardown = report
        self._set_state(LaneState.STOPPED if report.processes_gone else LaneState.FAILED)
        return report

    def up(self, timeout_s: float | None = None) -> Lane:
        """start + warm; on any failure or interrupt the lane is torn down before re-raising."""
        try:
            self.start()
            self.warm(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self


@contextlib.contextmanager
def serve_lane(spec: LaneSpec, timeout_s: float | None = None) -> Iterator[Lane]:
    """Run a lane for the duration of a `with` block; torn down on any exit, even a failed start."""
    lane = Lane(spec)
    lane.up(timeout_s)
    try:
        yield lane
    finally:
        lane.stop()


def down(name: str) -> TeardownReport:
    """Stop a live lane by name (from its owner record): live, orphan, or survivors of a dead leader."""
    rec = registry.find_live(name)
    return stop_lane_processes(rec)
