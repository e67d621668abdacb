"""What an appliance leaves behind to run without lanekit: systemd units (ordered with `After=`/`Requires=`,
a start that counts only once `/health` answers, stop hooks, the key from a 0600 EnvironmentFile) and a
compose file (each service healthy before the next starts).

The units run the engines' exact command lines on this machine (same binaries, models, flags and host
fix as `lanekit appliance up`); the compose file maps the same lanes onto container images.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from lanekit.lanes.appliance import ApplianceSpec
from lanekit.lanes.appliance_run import KEY_ENV, api_key, key_env_name, secured_spec
from lanekit.lanes.engine import engine_for
from lanekit.lanes.spec import LaneSpec

LLAMACPP_IMAGE = "ghcr.io/ggml-org/llama.cpp:server"
WAIT_SCRIPT = '''"""Exit 0 once URL answers HTTP 200, 1 after TIMEOUT seconds (lanekit appliance units)."""
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            if resp.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(2)
print(f"{url} not healthy after {sys.argv[2]} s", file=sys.stderr)
sys.exit(1)
'''
_PLAIN = re.compile(r"^[A-Za-z0-9_./:=,+@%$-]+$")


def unit_name(app: ApplianceSpec, lane: LaneSpec) -> str:
    return f"lanekit-{app.name}-{lane.name}.service"


def target_name(app: ApplianceSpec) -> str:
    return f"lanekit-{app.name}.target"


def systemd_word(arg: str) -> str:
    """One argv word as systemd's ExecStart= reads it: quoted when needed, `%` and `$` escaped."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if arg and _PLAIN.match(arg):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_line(argv: list[str]) -> str:
    return " ".join(systemd_word(a) for a in argv)


def env_file_text(app: ApplianceSpec) -> str:
    """The EnvironmentFile every unit and the compose file read: the appliance's key, per engine name."""
    key = api_key(app.name)
    names = sorted({key_env_name(lane) for lane in app.lanes})
    return "".join(f"{n}={key}\n" for n in names)


def lane_unit(app: ApplianceSpec, lane: LaneSpec, env_file: Path, wait_script: Path) -> str:
    """The service for one lane: after (and requiring) the lane before it, started = healthy."""
    spec = secured_spec(app, lane)
    engine = engine_for(spec)
    port = app.port_of(lane)
    argv = engine.argv(spec, port)
    idx = app.lanes.index(lane)
    prev = unit_name(app, app.lanes[idx - 1]) if idx else None
    warm = int(spec.warm_timeout_s)
    lines = ["[Unit]", (f"Description=lanekit appliance {app.name}: lane {lane.name} ({spec.engine} {spec.model}, "
                        f"{spec.host}:{port})"),
             "After=network-online.target" + (f" {prev}" if prev else ""), "Wants=network-online.target"]
    if prev:
        lines.append(f"Requires={prev}")  # sequential: this lane loads only after the one before is healthy
    lines += [f"PartOf={target_name(app)}", "", "[Service]", "Type=exec", f"EnvironmentFile={env_file}"]
    for key, value in engine.env(spec).items():
        lines.append("Environment=" + systemd_word(f"{key}={value}"))
    stop = engine.stop_argv(spec)
    if stop:  # a container: clear a stale one first, and stop it (killing the client leaves it running)
        lines.append("ExecStartPre=-" + systemd_line([stop[0], "rm", "-f", stop[-1]]))
    lines.append("ExecStart=" + systemd_line(argv))
    lines.append("ExecStartPost=" + systemd_line([sys.executable, str(wait_script),
                                                  engine.health_url(spec, port).replace("0.0.0.0", "127.0.0.1"),
                                                  str(warm)]))
    if stop:
        lines.append("ExecStop=" + systemd_line(stop))
    lines += ["KillMode=control-group", f"TimeoutStartSec={warm + 30}", f"TimeoutStopSec={int(spec.stop_grace_s) + 5}",
              "Restart=on-failure", "RestartSec=10", "", "[Install]", f"WantedBy={target_name(app)}", ""]
    return "\n".join(lines)


def target_unit(app: ApplianceSpec) -> str:
    units = " ".join(unit_name(app, lane) for lane in app.lanes)
    return "\n".join(["[Unit]", f"Description=lanekit appliance {app.name} ({len(app.lanes)} lanes)",
                      f"Wants={units}", f"After={units}", "", "[Install]", "WantedBy=multi-user.target", ""])


def write_units(app: ApplianceSpec, out_dir: str | Path) -> list[Path]:
    """Write the units, the target, the 0600 env file and the health-wait script into `out_dir`."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env_file = out / f"{app.name}.env"
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(env_file_text(app))
    os.chmod(env_file, 0o600)
    wait = out / "lanekit-wait-healthy.py"
    wait.write_text(WAIT_SCRIPT)
    paths = [env_file, wait]
    for lane in app.lanes:
        path = out / unit_name(app, lane)
        path.write_text(lane_unit(app, lane, env_file, wait))
        paths.append(path)
    target = out / target_name(app)
    target.write_text(target_unit(app))
    return [*paths, target]


# -- compose -------------------------------------------------------------------------------------
def _llamacpp_service(spec: LaneSpec, port: int) -> dict[str, Any]:
    """llama-server in ggml-org's image: the same flags, host paths mounted read-only."""
    engine = engine_for(spec)
    argv = engine.argv(spec, port)[1:]
    volumes = []
    for flag, inside in (("-m", "/models"), ("--chat-template-file", "/templates")):
        if flag in argv:
            at = argv.index(flag) + 1
            host_path = Path(argv[at])
            volumes.append(f"{host_path}:{inside}/{host_path.name}:ro")
            argv[at] = f"{inside}/{host_path.name}"
    argv[argv.index("--host") + 1] = "0.0.0.0"
    gpu = getattr(spec, "gpu_layers", None) not in (None, 0)
    return {"image": LLAMACPP_IMAGE + ("-cuda" if gpu else ""), "command": argv, "volumes": volumes,
            "healthcheck": {"test": ["CMD", "curl", "-fsS", f"http://127.0.0.1:{port}/health"]}, "gpu": gpu}


def _vllm_docker_service(spec: LaneSpec, port: int) -> dict[str, Any]:
    from lanekit.lanes.engines._common import HF_CACHE_CONTAINER
    from lanekit.lanes.engines.vllm import server_flags
    from lanekit.lanes.engines.vllm_docker import container_model

    model, mounts = container_model(spec)
    volumes = list(mounts) + list(spec.volumes)
    if spec.hf_cache:
        volumes.append(f"{os.path.expanduser(spec.hf_cache)}:{HF_CACHE_CONTAINER}")
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=5)"
    return {"image": spec.image, "command": [*spec.serve_command, model, *server_flags(spec, "0.0.0.0", port)],
            "volumes": volumes, "healthcheck": {"test": ["CMD", "python3", "-c", probe]},
            "gpu": bool(spec.gpus), "ipc": "host" if spec.ipc_host else None, "shm_size": spec.shm_size,
            "environment": dict(spec.env)}


def compose_file(app: ApplianceSpec, env_file: str) -> str:
    """A compose project: one service per lane, each `depends_on` the one before being healthy."""
    services: dict[str, Any] = {}
    skipped = []
    prev = None
    for lane in app.lanes:
        spec = secured_spec(app, lane)
        port = app.port_of(lane)
        if spec.engine == "llamacpp":
            svc = _llamacpp_service(spec, port)
        elif spec.engine == "vllm-docker":
            svc = _vllm_docker_service(spec, port)
        else:
            skipped.append(f"{lane.name} ({spec.engine})")
            continue
        gpu = svc.pop("gpu")
        check = svc.pop("healthcheck")
        check.update({"interval": "10s", "timeout": "5s", "retries": 3, "start_period": f"{int(spec.warm_timeout_s)}s"})
        entry = {k: v for k, v in svc.items() if v not in (None, [], {})}
        entry.update({"container_name": f"lanekit-{app.name}-{lane.name}", "ports": [f"{app.bind}:{port}:{port}"],
                      "env_file": [env_file], "healthcheck": check, "restart": "unless-stopped",
                      "stop_grace_period": f"{int(spec.stop_grace_s)}s"})
        if gpu:
            entry["deploy"] = {"resources": {"reservations": {"devices": [
                {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]}}}
        if prev:
            entry["depends_on"] = {prev: {"condition": "service_healthy"}}  # one load at a time on UMA
        services[lane.name] = entry
        prev = lane.name
    head = (f"# lanekit appliance {app.name}: `docker compose -f compose.yaml up -d` starts the lanes one at a\n"
            f"# time, each healthy before the next. The key is in {env_file} ({', '.join(sorted(set(KEY_ENV.values())))}).\n")
    if any(s["image"].startswith(LLAMACPP_IMAGE) for s in services.values()):
        head += "# llama.cpp lanes use ggml-org's image, not this machine's build: the systemd units run the exact build.\n"
    if skipped:
        head += f"# not in compose (no container mapping): {', '.join(skipped)}: use the systemd units.\n"
    return head + yaml.safe_dump({"name": f"lanekit-{app.name}", "services": services}, sort_keys=False)


def verify_units(paths: list[Path]) -> tuple[bool | None, str]:
    """`systemd-analyze verify` on the unit files: (ok, output); (None, why) where it is not installed."""
    import shutil
    import subprocess

    tool = shutil.which("systemd-analyze")
    if tool is None:
        return None, "systemd-analyze is not installed"
    units = [str(p) for p in paths if p.suffix in (".service", ".target")]
    proc = subprocess.run([tool, "verify", *units], capture_output=True, text=True, timeout=120, check=False)
    text = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, text


def shell_summary(app: ApplianceSpec, out_dir: Path) -> list[str]:
    """How to install what was written."""
    units = " ".join(shlex.quote(str(out_dir / unit_name(app, lane))) for lane in app.lanes)
    return [f"sudo cp {units} {shlex.quote(str(out_dir / target_name(app)))} /etc/systemd/system/",
            f"sudo systemctl daemon-reload && sudo systemctl enable --now {target_name(app)}"]
