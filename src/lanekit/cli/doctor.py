"""`lanekit doctor --lane NAME | --url URL [--harness hermes] [--json]`: check a live lane."""

from __future__ import annotations

import typer

_STYLE = {"pass": "green", "warn": "yellow", "fail": "red"}


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        lane: str | None = typer.Option(None, "--lane", help="a live lane lanekit started (see `lanekit ps`)"),
        url: str | None = typer.Option(None, "--url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1"),
        model: str | None = typer.Option(None, "--model", help="model id to request (default: the first listed)"),
        engine: str | None = typer.Option(None, "--engine", help="engine behind --url (default: detected)"),
        harness: str | None = typer.Option(None, "--harness", help="harness whose context floor applies: hermes"),
        metrics_url: str | None = typer.Option(None, "--metrics-url", help="Prometheus URL (default per engine)"),
        timeout: float = typer.Option(180.0, "--timeout", help="seconds per request"),
        json_out: bool = typer.Option(False, "--json", help="print the stable JSON report"),
    ) -> None:
        """Check a lane an agent will drive: models, context, structured tool calls, coherence, streaming,
        usage, metrics, prefix cache. Exit code 1 when the verdict is fail."""
        from rich.markup import escape

        from lanekit.cli.output import console, print_json
        from lanekit.doctor import doctor_lane, run_doctor
        from lanekit.errors import ConfigError

        if bool(lane) == bool(url):
            raise ConfigError("give exactly one of --lane NAME or --url URL", fix="`lanekit ps` lists live lanes")
        from lanekit.cli._progress import Ticker

        with Ticker("doctor") as tick:
            def progress(name: str, i: int, total: int) -> None:
                tick.update(f"{name} ({i}/{total})")

            if lane:
                report = doctor_lane(lane, harness=harness, timeout_s=timeout, progress=progress)
            else:
                report = run_doctor(url, model, engine=engine, harness=harness, metrics_url=metrics_url,
                                    timeout_s=timeout, progress=progress)
        if json_out:
            print_json(report.stable_json())
        else:
            from rich.table import Table
            from rich.text import Text

            console.print(f"doctor {report.base_url}  model={report.model}  engine={report.engine or '?'}"
                          + (f"  harness={report.harness}" if report.harness else ""), markup=False)
            # a grid, so a long detail or fix wraps under itself instead of past the terminal's edge
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold", ratio=1)
            for c in report.checks:
                grid.add_row(Text(f" {c.status:4}", style=_STYLE[c.status]), c.name, Text(c.detail))
                if c.fix and c.status != "pass":
                    grid.add_row("", "", Text(f"fix: {c.fix}"))
            console.print(grid)
            console.print(f"verdict: [{_STYLE[report.verdict]}]{escape(report.verdict)}[/]")
        if report.verdict == "fail":
            raise typer.Exit(1)
