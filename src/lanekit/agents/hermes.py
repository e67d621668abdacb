"""Drive the real Hermes Agent (hermes-agent 0.19.0) through a battery against one lane.

Public entry points:
    ensure_hermes(install=True) -> Path          # the `hermes` executable in lanekit's own venv
    owner_hermes() -> Path | None                # the owner's own `hermes` (HERMES=…, recorded by install.sh)
    check_context(served_ctx, claim_ctx=None)    # HarnessError "Hermes will refuse this lane"
    write_hermes_home(home, base_url, model, context_length) -> Path   # private config.yaml
    run_battery_hermes(base_url, model, battery, *, served_ctx, repeats=1, ...) -> list[AgentRun]

The owner's own Hermes comes first: `HERMES=/path/to/hermes` in the environment, or the one
`HERMES=… ./install.sh` recorded; only without one is the pinned hermes-agent installed.
Hermes installs top-level modules (`agent`, `tools`, `cli`, ...) that clash with other
packages, so it lives in its own venv under `lanekit.dirs.home()/hermes-venv`. Each run gets a
private HERMES_HOME (config, state.db, sessions.jsonl; kept for `lanekit score`) whose config
points at the lane and states the context length in both places Hermes checks: the model and
the compression model. Each task is one `hermes -z PROMPT -t TOOLSETS --usage-file F` in that
task's workspace; afterwards the sessions are exported, parsed and attached to their tasks.

Hermes runs inside the tool jail (agents/jail): its terminal and file tools act on what the
model writes, so the whole `hermes` process is confined. Writable: the task's workspace (also
its HOME) and the private HERMES_HOME, whose config.yaml is mounted read-only from lanekit's
copy. Readable: the system, Hermes' venv and its interpreter. Network: 127.0.0.1:PORT inside,
bridged to the lane and nowhere else (jail/bridge.py). Limits: `hermes_limits`, and the task
timeout as wall time. A host that cannot provide the jail gets no Hermes run at all.

Measured on 0.19.0: `hermes -z` builds its agent with the default 90 iterations and ignores
`agent.max_turns` (written anyway, for interactive use of the same home), so a looping model is
stopped only by `task_timeout_s`; sessions are stored with source `cli`; the usage file names
the session id, which is how runs are matched to sessions.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lanekit import dirs
from lanekit.agents.battery import Battery, Task
from lanekit.agents.jail import Beneath, Jail, LaneBridge, Limits, Net, PathRefused, default_jail
from lanekit.agents.tools import Workspace
from lanekit.agents.trace import AgentRun
from lanekit.agents.traces.hermes import hermes_tool_schemas, parse_sessions_export
from lanekit.catalog.harnesses import HERMES
from lanekit.errors import HarnessError

HERMES_VERSION = HERMES.version
MIN_CONTEXT = HERMES.min_context  # agent/model_metadata.py MINIMUM_CONTEXT_LENGTH
INSTALL_TIMEOUT_S = 1800


def hermes_venv() -> Path:
    """The venv lanekit manages for Hermes (`LANEKIT_HERMES_VENV` overrides the location)."""
    override = os.environ.get("LANEKIT_HERMES_VENV")
    return Path(override).expanduser() if override else dirs.home() / "hermes-venv"


def installed_version(venv: Path | None = None) -> str | None:
    """The hermes-agent version installed in `venv`, read from its dist-info (no import)."""
    venv = venv or hermes_venv()
    for info in sorted(venv.glob("lib/python*/site-packages/hermes_agent-*.dist-info")):
        return info.name[len("hermes_agent-"):-len(".dist-info")]
    return None


def ensure_hermes(install: bool = True, version: str = HERMES_VERSION,
                  log: Callable[[str], None] | None = None) -> Path:
    """The `hermes` executable, pip-installing hermes-agent==`version` into lanekit's venv first
    when it is missing or another version (HarnessError with the pip output when that fails)."""
    venv = hermes_venv()
    exe = venv / "bin" / "hermes"
    if exe.is_file() and installed_version(venv) == version:
        return exe
    if not install:
        raise HarnessError(f"hermes-agent {version} is not installed in {venv}",
                           fix="run `lanekit eval --agent hermes` once with network access to PyPI "
                               "(it installs Hermes into lanekit's own venv)")
    if log:
        log(f"installing hermes-agent=={version} into {venv} (its own venv; a few minutes)")
    steps = [] if (venv / "bin" / "python").is_file() else [[sys.executable, "-m", "venv", str(venv)]]
    steps.append([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"hermes-agent=={version}"])
    for argv in steps:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"installing hermes-agent took longer than {INSTALL_TIMEOUT_S} s",
                               fix="check the network to PyPI and retry") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
            raise HarnessError(f"`{' '.join(argv[-3:])}` failed (exit {proc.returncode}):\n{tail}",
                               fix=f"fix the error above, or delete {venv} and retry")
    if not exe.is_file() or installed_version(venv) != version:
        raise HarnessError(f"hermes-agent {version} did not install an executable at {exe}",
                           fix=f"delete {venv} and retry")
    return exe


def owner_hermes() -> Path | None:
    """The owner's own `hermes`: $HERMES (ConfigError when it is not an executable), else the one
    `./install.sh` recorded; None when neither is set (lanekit's pinned copy is used)."""
    from lanekit.lanes.owner_tools import recorded, validate

    if os.environ.get("HERMES"):
        return Path(validate("hermes", os.environ["HERMES"]))
    value = recorded("hermes")
    return Path(value) if value else None


def check_context(served_ctx: int | None, claim_ctx: int | None = None) -> int:
    """The context length to tell Hermes; refuses a lane below Hermes' 64K floor.

    `claim_ctx` is Hermes' documented override (`model.context_length`): it makes Hermes accept a
    lane that serves less, and is only safe while conversations stay below the served window.
    """
    if claim_ctx is not None:
        if claim_ctx < MIN_CONTEXT:
            raise HarnessError(f"claimed context {claim_ctx:,} is below Hermes' minimum {MIN_CONTEXT:,}; "
                               "Hermes will refuse this lane", fix=f"claim at least {MIN_CONTEXT}")
        return claim_ctx
    if served_ctx is None:
        raise HarnessError("the lane's served context is unknown; Hermes needs at least 64K",
                           fix="pass served_ctx (the per-request context the lane serves)")
    if served_ctx < MIN_CONTEXT:
        raise HarnessError(
            f"the lane serves {served_ctx:,} tokens of context per request; Hermes will refuse this lane "
            f"(hermes-agent {HERMES_VERSION} requires at least {MIN_CONTEXT:,} for the model and for its "
            "compression model)",
            fix=f"serve the lane with ctx >= {HERMES.serve_context} (llama.cpp `-c` = {HERMES.serve_context} x "
                f"parallel; vLLM --max-model-len {HERMES.serve_context}), or claim {HERMES.serve_context} in the "
                f"Hermes config (--hermes-claim-ctx {HERMES.serve_context}) if conversations stay short")
    return served_ctx


def probe_served_ctx(base_url: str, transport: Any = None, timeout_s: float = 10.0) -> int | None:
    """The per-request context a lane serves, asked from the endpoint itself (None if unknown);
    `lanekit.endpoint.probe.served_context` is the one probe."""
    from lanekit.endpoint.probe import served_context

    return served_context(base_url, transport=transport, timeout_s=timeout_s).per_request


def hermes_config(base_url: str, model: str, context_length: int, *, api_key: str = "no-key-required",
                  max_tokens: int | None = 512, max_turns: int = 8) -> dict[str, Any]:
    """The config.yaml content for a private HERMES_HOME pointing at one local lane, in Hermes'
    `providers:` schema (`agents.hermes_config.lane_overlay`), with the extras a battery run wants off."""
    from lanekit.agents.hermes_config import Endpoint, lane_overlay, merge

    private = {
        "model_catalog": {"enabled": False},  # no fetch of the remote catalog
        "agent": {"max_turns": max_turns},
        "compression": {"enabled": True},
        "auxiliary": {
            "compression": {"timeout": 900},
            "title_generation": {"enabled": False},  # one extra slow LLM call per session otherwise
        },
        "memory": {"memory_enabled": False, "user_profile_enabled": False},
        "curator": {"enabled": False},
    }
    lane = Endpoint(base_url, model, context_length, api_key=api_key)
    return merge(private, lane_overlay(lane, key="lanekit-lane", max_tokens=max_tokens))


def write_hermes_home(home: Path, base_url: str, model: str, context_length: int, **kwargs: Any) -> Path:
    """Create `home` with config.yaml for the lane; returns the config path."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "home").mkdir(exist_ok=True)
    path = home / "config.yaml"
    path.write_text(yaml.safe_dump(hermes_config(base_url, model, context_length, **kwargs), sort_keys=False))
    return path


def hermes_limits(task_timeout_s: float) -> Limits:
    """The jail's limits for one Hermes run: a Python agent with threads and its tools' commands
    (measured on 0.19.0: 3 threads, 315 MB peak address space, 106 MB resident)."""
    return Limits(cpu_s=math.ceil(task_timeout_s) + 5, address_space_bytes=8 << 30, file_size_bytes=256 << 20,
                  processes=512, open_files=4096, tmp_bytes=256 << 20)


def python_paths(python: Path) -> list[Path]:
    """What an interpreter needs to run in the jail: its venv (if it is one) and its installation."""
    paths = [python.parent.parent] if (python.parent.parent / "pyvenv.cfg").is_file() else []
    return paths + [python.resolve().parent.parent]


def hermes_ro_paths(exe: Path, extra: Sequence[Path] = ()) -> list[Path]:
    """Read-only paths for the jail: the executable (its venv, when it lies in one), the
    interpreter its shebang names, lanekit's own interpreter (it runs the in-jail bridge end) and
    `extra`. Not the executable's directory: whatever lies beside it stays outside."""
    venv = exe.parent.parent
    paths = [venv if (venv / "pyvenv.cfg").is_file() else exe, *python_paths(Path(sys.executable))]
    try:
        first = exe.read_bytes()[:512].split(b"\n", 1)[0]
    except OSError:
        first = b""
    if first.startswith(b"#!") and first[2:].split():
        interp = Path(first[2:].split()[0].decode(errors="replace"))
        if interp.is_file() and "python" in interp.name:
            paths += python_paths(interp)
    return paths + [Path(p) for p in extra]


def _env(home: Path, workspace: Path, exe: Path) -> dict[str, str]:
    """A minimal environment: no inherited API keys or proxies reach Hermes.

    HOME is the task's workspace: Hermes puts both "User home directory" and "Current working
    directory" in its system prompt, and a small model given two directories writes absolute
    paths under the wrong one (measured: Qwen2.5-Coder-1.5B read `$HOME/data/events.log`).
    """
    return {"PATH": f"{exe.parent}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HERMES_HOME": str(home),
            "HOME": str(workspace), "USER": "lanekit", "LOGNAME": "lanekit", "TMPDIR": "/tmp", "TERM": "dumb",
            "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}


@dataclass
class _Jailed:
    """How every Hermes process of one battery run is jailed."""

    jail: Jail
    exe: Path
    home: Path
    ro: list[Path]
    config: bytes  # config.yaml as the jail sees it: read-only, with the bridged lane URL
    limits: Limits

    def run(self, argv: list[str], cwd: Path, home_env: Path, timeout_s: float,
            net: Net | None = None) -> tuple[int | None, str, str]:
        """Exit code (None = killed at the timeout), stdout, stderr of one jailed Hermes command."""
        rw = [self.home] if cwd == self.home else [cwd, self.home]
        res = self.jail.run(argv, cwd=cwd, ro=self.ro, rw=rw, env=_env(self.home, home_env, self.exe),
                            files={str(self.home / "config.yaml"): self.config}, limits=self.limits, net=net,
                            timeout_s=timeout_s, stdout_cap=4 << 20, stderr_cap=1 << 20)
        return res.returncode, res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace")


@dataclass
class _Attempt:
    """One `hermes -z` invocation, waiting to be matched with its exported session."""

    task: Task
    repeat: int
    t0: float
    t1: float
    code: int | None
    stdout: str
    stderr: str
    usage: dict[str, Any]
    artifacts: dict[str, str | None] | None


def _attach(run: AgentRun | None, att: _Attempt, battery: Battery, base_url: str) -> AgentRun:
    """Fill the task-side fields of a parsed session (or record why there is none)."""
    task = att.task
    if run is None:
        tail = "\n".join((att.stderr or att.stdout).strip().splitlines()[-6:])
        run = AgentRun(id=f"{task.id}#{att.repeat}", source="hermes",
                       stop_reason="timeout" if att.code is None else "error",
                       error=None if att.code is None else f"hermes exited {att.code} without a session: {tail}",
                       wall_ns=int((att.t1 - att.t0) * 1e9), started_at=att.t0)
    run.task_id, run.repeat, run.prompt = task.id, att.repeat, task.prompt
    run.battery, run.battery_sha256, run.base_url = battery.ref, battery.sha256, base_url
    run.harness_version = f"hermes-agent {HERMES_VERSION}"
    run.tool_schemas = hermes_tool_schemas(task.hermes.toolsets)
    run.artifacts = att.artifacts
    if att.code is None:
        run.stop_reason = "timeout"
    if not run.wall_ns:  # a session killed at the timeout has no ended_at
        run.wall_ns = int((att.t1 - att.t0) * 1e9)
    run.notes.append(f"hermes exit code: {att.code if att.code is not None else 'killed at timeout'}")
    usage = att.usage
    if usage:
        keep = ("session_id", "completed", "failed", "api_calls", "input_tokens", "output_tokens")
        run.notes.append(f"usage: {json.dumps({k: usage.get(k) for k in keep})}")
    return run


def _usage(home: Path, rel: str) -> dict[str, Any]:
    """The `--usage-file` JSON Hermes writes (session_id, completed, failed, tokens); {} if absent.

    Read without following links: the jail could have left one in HERMES_HOME."""
    try:
        data = json.loads(Beneath(home).read_bytes(rel, 1 << 20)[0])
    except (PathRefused, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_battery_hermes(base_url: str, model: str, battery: Battery, *, served_ctx: int | None,
                       repeats: int = 1, task_timeout_s: float = 900, claim_ctx: int | None = None,
                       max_turns: int = 8, max_tokens: int | None = 512, install: bool = True,
                       hermes: str | Path | None = None, run_dir: Path | None = None,
                       progress: Callable[[int, int, AgentRun], None] | None = None,
                       log: Callable[[str], None] | None = None, jail: Jail | None = None,
                       jail_ro: Sequence[Path] = ()) -> list[AgentRun]:
    """Every task `repeats` times through `hermes -z` in the jail, scored later with `score_runs`.

    Refuses before running (HarnessError) when the lane serves < 64K and no `claim_ctx` is given,
    and (SandboxUnavailable) when the host cannot provide the jail. `jail_ro` adds read-only
    paths a custom `hermes` needs. The private HERMES_HOME and `sessions.jsonl` are kept in
    `run_dir` (default `lanekit.dirs.home()/hermes-runs/<timestamp>`).
    """
    ctx = check_context(served_ctx, claim_ctx)
    total = len(battery.tasks) * repeats
    jail = jail or default_jail()
    jail.require(f"Hermes' file and terminal tools for {total} task run(s)")
    exe = Path(hermes) if hermes else owner_hermes()
    if exe is not None and not hermes and log:
        log(f"Hermes: yours, {exe} (HERMES / ./install.sh); no pinned install")
    exe = exe or ensure_hermes(install=install, log=log)
    run_dir = run_dir or dirs.home() / "hermes-runs" / time.strftime("%Y%m%d-%H%M%S")
    home = run_dir / "hermes-home"
    write_hermes_home(home, base_url, model, ctx, max_tokens=max_tokens, max_turns=max_turns)
    for sub in ("usage", "export"):
        (home / sub).mkdir(exist_ok=True)
    jail.adopt(home)
    if claim_ctx is not None and (served_ctx or 0) < claim_ctx and log:
        log(f"claiming {claim_ctx:,} context to Hermes while the lane serves {served_ctx}")
    attempts: list[_Attempt] = []
    with LaneBridge(base_url, owner=jail.owner) as bridge:
        cfg = hermes_config(bridge.jail_url, model, ctx, max_tokens=max_tokens, max_turns=max_turns)
        jailed = _Jailed(jail, exe, home, hermes_ro_paths(exe, jail_ro),
                         yaml.safe_dump(cfg, sort_keys=False).encode(), hermes_limits(task_timeout_s))
        for task in battery.tasks:
            for rep in range(repeats):
                ws = Workspace.create(task.fixtures, prefix="lanekit-hermes-")
                jail.adopt(ws.root)
                usage = f"usage/{task.id}-{rep}.json"
                argv = [str(exe), "-z", task.prompt, "-t", ",".join(task.hermes.toolsets),
                        "--usage-file", str(home / usage)]
                t0 = time.time()
                try:
                    code, out, err = jailed.run(argv, ws.root, ws.root, task_timeout_s, net=bridge.net(sys.executable))
                    att = _Attempt(task, rep, t0, time.time(), code, out, err, _usage(home, usage),
                                   ws.snapshot([f.path for f in task.files]) if task.files else None)
                finally:
                    ws.cleanup()
                attempts.append(att)
                if progress is not None:
                    progress(len(attempts), total, _attach(None, att, battery, base_url))
    return _collect(jailed, run_dir, attempts, battery, base_url)


def _collect(jailed: _Jailed, run_dir: Path, attempts: list[_Attempt], battery: Battery,
             base_url: str) -> list[AgentRun]:
    """Export the sessions (in the jail), keep a copy in `run_dir`, match them to the attempts."""
    home = jailed.home
    jailed.run([str(jailed.exe), "sessions", "export", str(home / "export" / "sessions.jsonl")], home,
               home / "home", 300)
    sessions_path = run_dir / "sessions.jsonl"
    try:  # read without following links: the export lies in a directory the jail could write
        sessions_path.write_bytes(Beneath(home).read_bytes("export/sessions.jsonl", 1 << 30)[0])
    except (PathRefused, OSError):
        pass
    sessions, _ = parse_sessions_export(sessions_path) if sessions_path.is_file() else ([], [])
    runs = []
    for att in attempts:
        # the usage file names the session; otherwise a session belongs to the invocation that
        # was running when it started, on the same prompt
        sid = att.usage.get("session_id")
        match = next((s for s in sessions if sid and s.id == sid), None) or next(
            (s for s in sessions if s.started_at is not None and att.t0 - 1 <= s.started_at <= att.t1 + 1
             and battery.match_prompt(s.prompt) is att.task), None)
        if match is not None:
            sessions.remove(match)
        runs.append(_attach(match, att, battery, base_url))
    return runs
