"""Run an appliance: its API key, its lanes made safe to serve (explicit bind, key required, CORS off),
started one at a time — each healthy before the next (simultaneous loads contend for unified memory) —
its status (health, memory, port, what is reachable from where) and its teardown in reverse order.

The key lives in `<LANEKIT_HOME>/appliances/<name>/api_key` (mode 0600) and reaches the engines through
their environment (LLAMA_API_KEY, VLLM_API_KEY), never their command line, which any local user can read.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
from pydantic import BaseModel

from lanekit.dirs import home
from lanekit.errors import ConfigError
from lanekit.lanes import procs, registry
from lanekit.lanes.appliance import ApplianceSpec, plan_appliance, require_fits
from lanekit.lanes.engine import engine_for
from lanekit.lanes.lifecycle import Lane, TeardownReport, down
from lanekit.lanes.spec import LaneSpec

KEY_ENV = {"llamacpp": "LLAMA_API_KEY", "vllm": "VLLM_API_KEY", "vllm-docker": "VLLM_API_KEY"}
OWNER_KIND = "appliance"
PROBE_ORIGIN = "http://lanekit-cors-probe.invalid"


def appliance_dir(name: str) -> Path:
    path = home() / "appliances" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def api_key(name: str, create: bool = True) -> str:
    """The appliance's API key, generated once (32 random bytes) and kept 0600."""
    path = appliance_dir(name) / "api_key"
    if path.is_file():
        return path.read_text().strip()
    if not create:
        raise ConfigError(f"appliance {name!r} has no API key yet", fix="`lanekit appliance up` creates it")
    key = "lk-" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


def key_env_name(spec: LaneSpec) -> str:
    """The variable the lane's engine reads its API key from; ConfigError for engines without one here."""
    try:
        return KEY_ENV[spec.engine]
    except KeyError:
        raise ConfigError(f"appliance lane {spec.name!r}: engine {spec.engine} cannot require an API key here",
                          fix=f"use one of {', '.join(KEY_ENV)} in an appliance") from None


def secured_spec(app: ApplianceSpec, lane: LaneSpec) -> LaneSpec:
    """The lane as the appliance runs it: its own name and fixed port, the appliance's bind address,
    CORS off (no browser page can read its answers), no web UI, the key read from the environment."""
    extra = list(lane.extra_args)
    update: dict = {"name": app.lane_name(lane), "host": app.bind, "port": app.port_of(lane)}
    if lane.engine == "llamacpp":
        # empty Allow-Origin matches no origin; llama-server allows credentials unless told not to
        extra += ["--cors-origins", "", "--no-cors-credentials", "--no-webui"]
    elif lane.engine in ("vllm", "vllm-docker"):
        extra += ["--allowed-origins", "[]"]  # vLLM's default is ["*"]
    if lane.engine == "vllm-docker":
        update["pass_env"] = [*lane.pass_env, KEY_ENV["vllm-docker"]]  # forwarded by name: not on argv
    key_env_name(lane)
    update["extra_args"] = extra
    return lane.model_copy(update=update)


class _KeyedEngine:
    """The lane's engine with the API key added to the process environment (not to the spec, which
    the owner record stores in plain text)."""

    def __init__(self, spec: LaneSpec, key: str) -> None:
        self._inner = engine_for(spec)
        self._env = {key_env_name(spec): key}

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def env(self, spec: LaneSpec) -> dict[str, str]:
        return {**self._inner.env(spec), **self._env}


def appliance_lanes(app: ApplianceSpec, key: str | None = None) -> list[Lane]:
    """One detached Lane per appliance lane, in start order, owned by the appliance."""
    key = key or api_key(app.name)
    lanes = []
    for lane in app.lanes:
        spec = secured_spec(app, lane)
        lanes.append(Lane(spec, engine=_KeyedEngine(spec, key), owner_kind=OWNER_KIND, detached=True,
                          run_id=app.name))
    return lanes


def up(app: ApplianceSpec, *, hw: str | None = None, progress: Callable[[str], None] | None = None) -> list[Lane]:
    """Guard the set, then start the lanes one at a time, each healthy before the next; if one fails,
    the ones already started are stopped (newest first) and the error is raised."""
    say = progress or (lambda text: None)
    plan = plan_appliance(app, hw)
    require_fits(plan)
    started: list[Lane] = []
    try:
        for lane in appliance_lanes(app):
            say(f"starting {lane.spec.name} ({lane.spec.engine}) on {lane.spec.host}:{lane.spec.port}")
            lane.up(app.start_timeout_s)
            say(f"{lane.spec.name} ready in {lane.ready_s:.1f}s")
            started.append(lane)
    except BaseException:
        for lane in reversed(started):
            lane.stop()
        raise
    return started


def running(app: ApplianceSpec) -> list[registry.LaneRecord]:
    """Owner records of this appliance's lanes that still run, in start order."""
    live = {r.name: r for r in registry.list_live()}
    return [live[app.lane_name(lane)] for lane in app.lanes if app.lane_name(lane) in live]


def stop(app: ApplianceSpec) -> list[TeardownReport]:
    """Stop the appliance's lanes in reverse start order, each verified."""
    return [down(rec.name) for rec in reversed(running(app))]


# -- status ------------------------------------------------------------------------------------
class LaneStatus(BaseModel):
    """One lane as `lanekit appliance status` shows it."""

    lane: str
    name: str
    state: str                      # running / stopped / orphan / ...
    port: int
    bind: str
    base_url: str
    healthy: bool | None = None
    key_required: bool | None = None  # a request without the key is refused
    key_accepted: bool | None = None  # a request with the key is answered
    cors_open: bool | None = None     # answers a foreign Origin with a matching Allow-Origin
    rss_bytes: int | None = None
    reachable: str = ""


def reachability(bind: str) -> str:
    """In words: who can open a connection to a lane bound to `bind`."""
    ip = ipaddress.ip_address(bind)
    if ip.is_loopback:
        return "this machine only (loopback)"
    if ip.is_unspecified:
        addrs = [f"{a} ({i})" for i, a in _addresses() if not ipaddress.ip_address(a).is_loopback]
        return "every interface: " + (", ".join(addrs) or "no other address now") + " and any added later"
    for iface, addr in _addresses():
        if addr == bind:
            return f"hosts that can route to {bind} ({iface}); other interfaces refuse"
    return f"nothing yet: {bind} is not an address of this machine"


def _addresses() -> list[tuple[str, str]]:
    import socket

    import psutil

    out = []
    for iface, addrs in psutil.net_if_addrs().items():
        out += [(iface, a.address.split("%")[0]) for a in addrs if a.family in (socket.AF_INET, socket.AF_INET6)]
    return out


def _probe_http(base_url: str, key: str, health_url: str) -> dict:
    """Health, the key enforced and accepted, CORS closed — asked of the lane itself."""
    out: dict = {}
    with httpx.Client(timeout=5.0) as http:
        try:
            out["healthy"] = http.get(health_url).status_code == 200
            out["key_required"] = http.get(f"{base_url}/models").status_code in (401, 403)
            out["key_accepted"] = http.get(f"{base_url}/models",
                                           headers={"Authorization": f"Bearer {key}"}).status_code == 200
            pre = http.options(f"{base_url}/chat/completions",
                               headers={"Origin": PROBE_ORIGIN, "Access-Control-Request-Method": "POST"})
            allow = pre.headers.get("access-control-allow-origin", "")
            out["cors_open"] = allow in ("*", PROBE_ORIGIN)
        except httpx.HTTPError:
            out.setdefault("healthy", False)
    return out


def status(app: ApplianceSpec) -> list[LaneStatus]:
    """Every lane of the appliance: state, health, key and CORS as the server answers, memory, port,
    and what can reach it."""
    key = api_key(app.name, create=False) if (appliance_dir(app.name) / "api_key").is_file() else ""
    records = {r.name: r for r in registry.list_live()}
    rows = []
    for lane in app.lanes:
        name, port = app.lane_name(lane), app.port_of(lane)
        spec = secured_spec(app, lane)
        base_url = engine_for(spec).base_url(spec, port)
        row = LaneStatus(lane=lane.name, name=name, state="stopped", port=port, bind=app.bind, base_url=base_url,
                         reachable=reachability(app.bind))
        rec = records.get(name)
        if rec is not None:
            row.state = "running" if rec.state() == "live" else rec.state()
            running_procs = rec.processes()
            row.rss_bytes = procs.rss_bytes(running_procs) if running_procs else None
            answers = _probe_http(rec.base_url, key, rec.health_url)
        else:  # started by its systemd unit or compose, not by lanekit: ask the port itself
            host = "127.0.0.1" if ipaddress.ip_address(app.bind).is_unspecified else app.bind
            url = engine_for(spec).base_url(spec.model_copy(update={"host": host}), port)
            answers = _probe_http(url, key, url.removesuffix("/v1") + "/health")
            if answers.get("healthy"):
                row.state = "running (not started by lanekit)"
        for field, value in answers.items():
            setattr(row, field, value)
        rows.append(row)
    return rows
