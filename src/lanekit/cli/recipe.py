"""`lanekit recipe MODEL --engine E --hw H`: print the exact command (and why) for a lane."""

from __future__ import annotations

from pathlib import Path

import typer


def _parse_sets(items: list[str]) -> dict:
    """`--set key=value` pairs; values are YAML scalars/lists (`--set enforce_eager=true`)."""
    import yaml

    from lanekit.errors import ConfigError

    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value", fix="e.g. --set enforce_eager=true")
        out[key.strip()] = yaml.safe_load(raw) if raw else ""
    return out


def add_lane(plan_path: Path, spec: dict) -> Path:
    """Append a recipe lane to a bakeoff plan (a new plan when the file is missing), validated first;
    a lane of the same name is refused."""
    import yaml

    from lanekit.bakeoff.plan import parse_plan
    from lanekit.errors import ConfigError
    from lanekit.lanes.spec import read_yaml

    doc = read_yaml(plan_path) if plan_path.is_file() else {"schema_version": 1, "name": plan_path.stem, "lanes": []}
    if not isinstance(doc, dict):
        raise ConfigError(f"{plan_path}: not a bakeoff plan (expected a mapping)", fix="pass a bakeoff.yaml")
    lanes = list(doc.get("lanes") or [])
    if any(isinstance(x, dict) and x.get("name") == spec["name"] for x in lanes):
        raise ConfigError(f"{plan_path}: a lane named {spec['name']!r} is already there", fix="pass --name NEW")
    doc["lanes"] = [*lanes, spec]
    parse_plan(doc, str(plan_path))
    header = "".join(line + "\n" for line in plan_path.read_text().splitlines() if line.startswith("#")) \
        if plan_path.is_file() else ""
    plan_path.write_text(header + yaml.safe_dump(doc, sort_keys=False))
    return plan_path


def register(app: typer.Typer) -> None:
    @app.command()
    def recipe(
        model: str = typer.Argument(..., help="HF id, local path, catalog id, Ollama tag or embedded model id"),
        engine: str = typer.Option("vllm", "--engine", "-e",
                                   help="llamacpp, vllm, vllm-docker, sglang, nim, ollama, trtllm"),
        hw: str = typer.Option("spark", "--hw", help="hardware profile: spark, cpu, h100"),
        harness: str = typer.Option("hermes", "--harness", help="context floor of this harness; 'none' for none"),
        ctx: int | None = typer.Option(None, "--ctx", help="context tokens per request"),
        parallel: int | None = typer.Option(None, "--parallel", help="concurrent sequences / slots"),
        port: int | None = typer.Option(None, "--port"),
        name: str | None = typer.Option(None, "--name", help="lane name"),
        sets: list[str] = typer.Option([], "--set", help="any spec field, key=value (repeatable)"),  # noqa: B008
        lane: bool = typer.Option(False, "--lane", help="print the recipe as a bakeoff plan lane (YAML)"),
        add_to: Path | None = typer.Option(None, "--add-to", help="append the lane to this bakeoff plan "  # noqa: B008
                                           "(created when missing)"),
        json_out: bool = typer.Option(False, "--json", help="print the recipe as JSON"),
    ) -> None:
        """Print the launch command for MODEL on ENGINE × HW, with the flags the field reports need."""
        from lanekit.cli.output import comment_lines, console, print_json, shell_lines
        from lanekit.lanes.recipes import resolve_recipe

        overrides = {"ctx": ctx, "parallel": parallel, "port": port, "name": name, **_parse_sets(sets)}
        rec = resolve_recipe(model, engine, hw, harness=None if harness.lower() == "none" else harness,
                             **overrides)
        if add_to is not None:
            where = add_lane(add_to, rec.spec)
            console.print(f"added lane {rec.spec['name']} to {where}: lanekit bakeoff {where}", markup=False)
            return
        if lane:
            import yaml

            print(yaml.safe_dump({"lanes": [rec.spec]}, sort_keys=False), end="")
            return
        if json_out:
            print_json(rec)
            return
        # on a terminal: folded to its width, every line still pasting into a shell (continuations,
        # comments); piped: one line per command, whole, for scripts and grep
        width = console.width if console.is_terminal else 10**6
        console.print(comment_lines(f"{rec.model} on {rec.engine} × {rec.hw}"
                                    + (f" for {rec.harness} (context {rec.served_ctx:,} per request)"
                                       if rec.harness else ""), width=width),
                      markup=False, soft_wrap=True, style="dim")
        for step in rec.pre_start:
            console.print(shell_lines(step, width), markup=False, soft_wrap=True)
        console.print(shell_lines(rec.command, width), markup=False, soft_wrap=True)
        for step in rec.post_start:
            console.print(shell_lines(step, width), markup=False, soft_wrap=True)
        if rec.stop:
            console.print(comment_lines(f"stop: {' '.join(rec.stop)}", width=width), markup=False, soft_wrap=True,
                          style="dim")
        console.print(comment_lines(f"health {rec.health_url}   metrics {rec.metrics_url or '-'}", width=width),
                      markup=False, soft_wrap=True, style="dim")
        for note in rec.notes:
            console.print(comment_lines(f"note: {note}", width=width), markup=False, soft_wrap=True, style="dim")
