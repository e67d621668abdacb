"""`lanekit down`: stop lanes by name (or all) and verify port, processes and memory came back."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def down(
        name: Optional[str] = typer.Argument(None, help="lane name (see `lanekit ps`)"),
        all_: bool = typer.Option(False, "--all", help="stop every live lane"),
        json_out: bool = typer.Option(False, "--json", help="print JSON"),
    ) -> None:
        """Stop a lane: SIGTERM the process group, SIGKILL after the grace period, verify teardown."""
        from lanekit.cli.output import console, print_json
        from lanekit.errors import ConfigError
        from lanekit.lanes import registry
        from lanekit.lanes.lifecycle import down as stop_lane

        if not name and not all_:
            raise ConfigError("name a lane or pass --all", fix="`lanekit ps` lists live lanes")
        names = [r.name for r in registry.list_live()] if all_ else [name]
        reports = [stop_lane(n) for n in names]
        if json_out:
            print_json([dict(r.model_dump(), mem_delta_bytes=r.mem_delta_bytes, verified=r.verified)
                        for r in reports])
        else:
            for r in reports:
                style = "green" if r.verified else "red"
                console.print(r.summary(), style=style, markup=False)
            if not reports:
                console.print("no live lanes")
        if any(not r.verified for r in reports):
            raise typer.Exit(1)
