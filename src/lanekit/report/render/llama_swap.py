"""A llama-swap config (`llama-swap/config.yaml` in the profile) for the profile's lanes, so the lanes
a bakeoff judged can be served on demand behind one OpenAI endpoint.

Per lane: `cmd` (the engine's exact command with llama-swap's `${PORT}` macro where the port goes),
`proxy`, `checkEndpoint` (the engine's health path), `ttl`, `env`, `useModelName` when the server
advertises another id, and `cmdStop` for containers (killing the docker client leaves the
container running). Eligible lanes are listed in rank order; disqualified ones are kept but
`unlisted`, with the reason in their description. `groups` come from an appliance file when one
is given: its lanes run together (`swap: false`), the way the appliance was sized.
Field names follow llama-swap's config schema (config-schema.json in its repository).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from lanekit.report import values
from lanekit.results.models import BakeoffReport, LaneResult

DEFAULT_TTL_S = 0          # never unload on idle: an agent's next turn should not pay a cold start
MIN_HEALTH_TIMEOUT_S = 120  # llama-swap's default; raised to 3x the slowest warm-up measured
_PORTS = (47613, 47614)    # two sentinel ports: arguments that differ between them carry the port


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the commands) as literal blocks, the way llama-swap's examples write them."""


_Dumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s,
                                                             style="|" if "\n" in s else None))


def _argv_with_macro(spec: dict[str, Any]) -> tuple[list[str], dict[str, str], Any]:
    """(argv with ${PORT} where the port goes, env, engine) for a lane spec."""
    from lanekit.lanes.engine import get_engine
    from lanekit.lanes.engines._common import display_only
    from lanekit.lanes.spec import parse_lane

    lane = parse_lane(spec, where=spec.get("name", "lane"))
    engine = get_engine(lane.engine)
    with display_only():  # a profile re-rendered elsewhere still names the command
        a, b = engine.argv(lane, _PORTS[0]), engine.argv(lane, _PORTS[1])
    argv = [x if x == y else x.replace(str(_PORTS[0]), "${PORT}") for x, y in zip(a, b)]
    return argv, dict(engine.env(lane)), (engine, lane)


def _quote(arg: str) -> str:
    """Shell-quote an argument but leave llama-swap's ${PORT} macro readable (it is textual)."""
    if "${PORT}" in arg:
        return "${PORT}".join(shlex.quote(part) if part else "" for part in arg.split("${PORT}"))
    return shlex.quote(arg)


def command_text(argv: list[str]) -> str:
    """The command as llama-swap's multi-line `cmd`: one flag (with its value) per line."""
    lines: list[list[str]] = [[argv[0]]]
    for arg in argv[1:]:
        if arg.startswith("-"):
            lines.append([arg])
        else:  # a flag's value, or a positional word (`docker run`, `vllm serve MODEL`)
            lines[-1].append(arg)
    return "\n".join(" ".join(_quote(a) for a in line) for line in lines) + "\n"


def _description(x: LaneResult, report: BakeoffReport) -> str:
    verdict = report.ranking.of(x.name)
    unit, head = values.headline(x)
    speed = f"{head.text('{:.2f}' if unit == 's/turn' else '{:.1f}', with_n=False)} {unit}"
    if verdict is not None and verdict.eligible:
        return f"rank {verdict.rank}{' (recommended)' if verdict.recommended else ''} — {speed} (lanekit {report.run_id})"
    why = verdict.reasons[0] if verdict and verdict.reasons else "not eligible"
    return f"disqualified: {why} — {speed} (lanekit {report.run_id})"


def model_entry(x: LaneResult, report: BakeoffReport, *, ttl_s: int = DEFAULT_TTL_S,
                template_dir: Path | None = None) -> dict[str, Any]:
    """One `models:` entry for a lane."""
    argv, env, (engine, lane) = _argv_with_macro(x.spec)
    if template_dir is not None and "--chat-template-file" in argv:  # the copy beside the launch scripts
        at = argv.index("--chat-template-file") + 1
        argv[at] = str(template_dir / Path(argv[at]).name)
    verdict = report.ranking.of(x.name)
    entry: dict[str, Any] = {"name": x.name, "description": _description(x, report), "cmd": command_text(argv),
                             "proxy": f"http://{lane.host}:${{PORT}}",
                             "checkEndpoint": urlsplit(engine.health_url(lane, _PORTS[0])).path or "/health",
                             "ttl": ttl_s}
    if env:
        entry["env"] = [f"{k}={v}" for k, v in env.items()]
    stop = engine.stop_argv(lane)
    if stop:
        entry["cmdStop"] = shlex.join(stop)
    served = engine.model_id(lane)
    if served != x.name:
        entry["useModelName"] = served
    if verdict is not None and not verdict.eligible:
        entry["unlisted"] = True
    return entry


def appliance_groups(path: str | Path | None) -> tuple[str, list[str]] | None:
    """(appliance name, its lane names in order) from an appliance file (read and validated by the
    appliance loader, lanes named from the lanes.yaml beside it), or None without one."""
    if path is None:
        return None
    from lanekit.lanes.appliance import load_appliance_file

    spec = load_appliance_file(Path(path))
    return spec.name, [lane.name for lane in spec.lanes]


def render_llama_swap(report: BakeoffReport, *, appliance: tuple[str, list[str]] | None = None,
                      ttl_s: int = DEFAULT_TTL_S, template_dir: Path | None = None) -> str | None:
    """The config YAML text, or None when no lane launched (nothing could be served)."""
    # rank order, the recommended lane first (within a tie it need not lead the ranking)
    order = [x for x, v in sorted(report.ranked(), key=lambda xv: not xv[1].recommended)]
    lanes = [x for x in order if x.launch is not None and x.spec]
    if not lanes:
        return None
    served = {x.name for x in lanes}
    skipped = [x for x in order if x.name not in served]
    models, problems = {}, []
    for x in lanes:
        try:
            models[x.name] = model_entry(x, report, ttl_s=ttl_s, template_dir=template_dir)
        except Exception as exc:  # noqa: BLE001 - one lane that cannot be rendered here must not lose the rest
            problems.append(f"{x.name}: cannot render its command here ({exc})")
    ready = [x.launch.ready_s for x in lanes if x.launch and x.launch.ready_s]
    doc: dict[str, Any] = {"healthCheckTimeout": max(MIN_HEALTH_TIMEOUT_S, int(3 * max(ready, default=0)) + 1),
                           "models": models}
    notes = []
    if appliance is not None:
        name, members = appliance
        inside = [m for m in members if m in models]
        missing = [m for m in members if m not in models]
        if inside:
            doc["groups"] = {name: {"swap": False, "exclusive": True, "members": inside}}
        if missing:
            notes.append(f"appliance {name}: {', '.join(missing)} not in this profile (not grouped)")
    header = [f"# llama-swap config for the lanes of lanekit run {report.run_id} (plan {report.plan_name}).",
              "# Generated by lanekit: eligible lanes in rank order; disqualified lanes are unlisted.",
              "# Start: llama-swap --config config.yaml --listen 127.0.0.1:8080, then use the lane name as `model`."]
    header += [f"# skipped {x.name}: failed at {x.failure.step if x.failure else '?'} (never served)" for x in skipped]
    header += [f"# NOTE: {n}" for n in notes + problems]
    return "\n".join(header) + "\n" + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                                                width=1000)


__all__ = ["appliance_groups", "command_text", "model_entry", "render_llama_swap"]
