"""`lanekit up`: start a lane (embedded default, a lanes.yaml entry, or flags) and wait until ready."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

DEFAULT_LANE = {"name": "smollm2", "engine": "llamacpp", "model": "smollm2-135m", "ctx": 4096, "parallel": 1}


def resolve_spec(lane: str | None, lanes_file: Path | None, overrides: dict):
    """Spec from the embedded default or lanes.yaml, with flag overrides applied, validated once."""
    from lanekit.errors import ConfigError
    from lanekit.lanes.spec import load_lanes_file, parse_lane

    if lane:
        path = lanes_file or Path("lanes.yaml")
        specs = load_lanes_file(path)
        if lane not in specs:
            raise ConfigError(f"{path}: no lane named {lane!r}", fix=f"lanes in that file: {', '.join(specs)}")
        base = specs[lane].model_dump(exclude_unset=True)
        base["engine"] = specs[lane].engine
    else:
        base = dict(DEFAULT_LANE)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return parse_lane(base, where=lane or "lane")


def register(app: typer.Typer) -> None:
    @app.command()
    def up(
        lane: Optional[str] = typer.Argument(None, help="lane name in lanes.yaml; omit for the embedded default"),
        name: Optional[str] = typer.Option(None, "--name", help="lane name (default: from the spec)"),
        model: Optional[str] = typer.Option(None, "--model", help="GGUF path or embedded model id"),
        ctx: Optional[int] = typer.Option(None, "--ctx", help="context tokens per request"),
        parallel: Optional[int] = typer.Option(None, "--parallel", help="concurrent slots"),
        port: Optional[int] = typer.Option(None, "--port", help="port (default: first free from 8080)"),
        threads: Optional[int] = typer.Option(None, "--threads"),
        kv_dtype: Optional[str] = typer.Option(None, "--kv-dtype"),
        chat_template_file: Optional[str] = typer.Option(None, "--chat-template-file"),
        lanes_file: Optional[Path] = typer.Option(None, "--lanes-file", help="default ./lanes.yaml"),
        timeout: Optional[float] = typer.Option(None, "--timeout", help="warm-up deadline in seconds"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the command and the sizing; start nothing"),
        json_out: bool = typer.Option(False, "--json", help="print JSON"),
    ) -> None:
        """Start a lane and wait until it is ready. It keeps running until `lanekit down`."""
        import shlex

        from lanekit.cli.output import console, print_json
        from lanekit.lanes import Lane, registry

        overrides = {"name": name, "model": model, "ctx": ctx, "parallel": parallel, "port": port,
                     "threads": threads, "kv_dtype": kv_dtype, "chat_template_file": chat_template_file}
        spec = resolve_spec(lane, lanes_file, overrides)
        lane_obj = Lane(spec, owner_kind="up", detached=True)
        if dry_run:
            lane_obj.check(preflight=False)
            argv = lane_obj.engine.argv(spec, lane_obj.port)
            env = lane_obj.engine.env(spec)
            est = lane_obj.estimate
            if json_out:
                print_json({"name": spec.name, "argv": argv, "env": env, "command": shlex.join(argv),
                            "estimate": est.model_dump() if est is not None else None,
                            "free_after_bytes": lane_obj.free_after_bytes})
                return
            for k, v in env.items():
                console.print(f"{k}={shlex.quote(v)} \\", markup=False)
            console.print(shlex.join(argv), markup=False)
            for line in est.explain():
                console.print(f"  {line}", markup=False, style="dim")
            return
        from lanekit.cli._progress import Ticker

        with Ticker(f"starting {spec.name} (guard, launch, warm-up)"):
            lane_obj.up(timeout)
        row = registry.as_row(lane_obj.record)
        row["ready_s"] = round(lane_obj.ready_s or 0.0, 3)
        if json_out:
            print_json(row)
            return
        console.print(f"[green]ready[/] {spec.name} in {lane_obj.ready_s:.1f} s  {lane_obj.base_url}")
        console.print(f"  model {lane_obj.model_id} · ctx {row['served_ctx']:,}/request · pid {row['pid']}",
                      markup=False)
        console.print(f"  log {row['log_path']}", markup=False, style="dim")
        if row["ctx_warning"]:
            from lanekit.cli.output import err_console

            err_console.print(f"warning: {spec.name} {row['ctx_warning']}", markup=False, style="yellow")
