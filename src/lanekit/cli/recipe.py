"""`lanekit recipe MODEL --engine E --hw H`: print the exact command (and why) for a lane."""

from __future__ import annotations

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
        json_out: bool = typer.Option(False, "--json", help="print the recipe as JSON"),
    ) -> None:
        """Print the launch command for MODEL on ENGINE × HW, with the flags the field reports need."""
        from lanekit.cli.output import comment_lines, console, print_json, shell_lines
        from lanekit.lanes.recipes import resolve_recipe

        overrides = {"ctx": ctx, "parallel": parallel, "port": port, "name": name, **_parse_sets(sets)}
        rec = resolve_recipe(model, engine, hw, harness=None if harness.lower() == "none" else harness,
                             **overrides)
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
