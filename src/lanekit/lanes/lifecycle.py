"""Lane lifecycle: an explicit state machine that guards, starts, warms and tears down a lane.

    stopped → starting → ready → stopping → stopped
                 ↘ failed ↗        ↘ failed

Every state change goes through `Lane._set_state`. Teardown signals the whole process group
(SIGTERM, grace, SIGKILL), then *verifies*: port closed, processes gone, memory back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

import httpx
import psutil
from pydantic import BaseModel

from lanekit.dirs import log_dir
from lanekit.errors import LaneStartError
from lanekit.lanes import registry
from lanekit.lanes.engine import Engine, engine_for
from lanekit.lanes.guard import check_fits, memory_pool, pick_port, port_is_closed, require_port
from lanekit.lanes.spec import LaneSpec


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
    gpu_free_before_bytes: int | None = None
    gpu_free_after_bytes: int | None = None

    @property
    def mem_delta_bytes(self) -> int:
        """After-teardown minus before-launch MemAvailable (≈0 or positive when memory came back)."""
        return self.mem_available_after_bytes - self.mem_available_before_bytes

    @property
    def verified(self) -> bool:
        return self.port_closed and self.processes_gone

    def summary(self) -> str:
        gib = 1 << 30
        return (f"lane {self.name}: stopped in {self.stop_s:.1f}s{' (SIGKILL)' if self.forced_kill else ''}; "
                f"port {'closed' if self.port_closed else 'STILL OPEN'}; "
                f"processes {'gone' if self.processes_gone else f'SURVIVED {self.survivors}'}; "
                f"memory available {self.mem_available_before_bytes / gib:.2f} GiB before launch → "
                f"{self.mem_available_after_bytes / gib:.2f} GiB after teardown "
                f"(Δ {self.mem_delta_bytes / gib:+.2f} GiB)")


def tail(path: str | Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file (empty when it does not exist)."""
    try:
        with open(path, errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines)).rstrip()
    except OSError:
        return ""


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return members


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Let teardown finish even if Ctrl-C is pressed again (main thread only)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stop_process_group(rec: registry.LaneRecord, popen: subprocess.Popen | None = None) -> TeardownReport:
    """SIGTERM the lane's process group, SIGKILL after the grace period, then verify."""
    grace = float(rec.spec.get("stop_grace_s", 10.0))
    t0 = time.monotonic()
    forced = False
    with _sigint_deferred():
        if rec.stop_argv:  # containers: the docker client dying does not stop the container
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(rec.stop_argv, timeout=grace + 30, capture_output=True)
        proc = rec.process()
        tracked = [proc] if proc else []
        if proc:
            with contextlib.suppress(psutil.Error):
                tracked += proc.children(recursive=True)
        tracked += [p for p in _group_members(rec.pgid) if p not in tracked]
        _signal_group(rec.pgid, signal.SIGTERM)
        for p in tracked:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _, alive = psutil.wait_procs(tracked, timeout=grace)
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=0.1 if not alive else 0)
        if alive or _group_members(rec.pgid):
            forced = True
            _signal_group(rec.pgid, signal.SIGKILL)
            for p in alive:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            psutil.wait_procs(alive, timeout=5)
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=5)
        survivors = [p.pid for p in tracked if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        survivors += [p.pid for p in _group_members(rec.pgid) if p.pid not in survivors]
        deadline = time.monotonic() + 5
        while not port_is_closed(rec.host, rec.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        pool = memory_pool()
        report = TeardownReport(
            name=rec.name, pid=rec.pid, stop_s=time.monotonic() - t0, forced_kill=forced,
            port_closed=port_is_closed(rec.host, rec.port), processes_gone=not survivors, survivors=survivors,
            mem_available_before_bytes=rec.mem_available_before_bytes,
            mem_available_after_bytes=memory_pool(uses_gpu=False).available_bytes,
            gpu_free_before_bytes=rec.gpu_free_before_bytes,
            gpu_free_after_bytes=pool.available_bytes if pool.kind == "gpu" else None)
        if report.processes_gone:
            registry.remove(rec.name)
    return report


class Lane:
    """One lane: spec + engine + the process once started. Use `serve_lane` for a scoped lane."""

    def __init__(self, spec: LaneSpec, engine: Engine | None = None) -> None:
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
        existing = registry.read(self.spec.name)
        if existing is not None and existing.is_alive():
            from lanekit.errors import ConfigError

            raise ConfigError(f"a lane named {self.spec.name!r} is already running (pid {existing.pid})",
                              fix=f"stop it with `lanekit down {self.spec.name}` or choose another --name")
        if self.port is None:
            self.port = pick_port(self.spec.host)
        else:
            require_port(self.spec.host, self.port)
        engine_preflight = getattr(self.engine, "preflight", None)
        if preflight and engine_preflight is not None:
            engine_preflight(self.spec)

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
        env = {**os.environ, **self.engine.env(self.spec), registry.OWNER_ENV: self.spec.name}
        log_path = log_dir() / f"{self.spec.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        gpu_pool = memory_pool()
        mem_before = memory_pool(uses_gpu=False).available_bytes
        with open(log_path, "ab") as log:
            log.write(("$ " + " ".join(argv) + "\n").encode())
            log.flush()
            self.popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env, start_new_session=True)
        proc = psutil.Process(self.popen.pid)
        self.record = registry.LaneRecord(
            name=self.spec.name, engine=self.spec.engine, pid=self.popen.pid, pgid=self.popen.pid,
            create_time=proc.create_time(), host=self.spec.host, port=self._port(), base_url=self.base_url,
            health_url=self.engine.health_url(self.spec, self._port()), metrics_url=self.metrics_url,
            model_id=self.model_id, served_ctx=self.engine.served_ctx(self.spec), asked_ctx=self.spec.ctx,
            log_path=str(log_path),
            started_at=time.time(), mem_available_before_bytes=mem_before,
            gpu_free_before_bytes=gpu_pool.available_bytes if gpu_pool.kind == "gpu" else None,
            owner_pid=os.getpid(), stop_argv=self.engine.stop_argv(self.spec), argv0=argv[0],
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
        prepare = getattr(self.engine, "prepare_steps", None)
        if prepare is not None:  # e.g. Ollama: the daemon is up, now pull/create and load the model
            from lanekit.lanes.engines.ollama import run_prepare_steps

            try:
                run_prepare_steps(prepare(self.spec, self._port()))
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
        report = stop_process_group(self.record, self.popen)
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
    """Stop a live lane by name (from its owner record)."""
    rec = registry.find_live(name)
    return stop_process_group(rec)
