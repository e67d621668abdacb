"""`lanekit down`: stop lanes by name, every one, or the orphans of a dead lanekit; verify port,
processes and memory came back."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def down(
        name: str | None = typer.Argument(None, help="lane name (see `lanekit ps`)"),
        all_: bool = typer.Option(False, "--all", help="stop every live lane"),
        orphans: bool = typer.Option(False, "--orphans", help="stop lanes whose lanekit process died"),
        json_out: bool = typer.Option(False, "--json", help="print JSON"),
    ) -> None:
        """Stop a lane: SIGTERM its processes, SIGKILL after the grace period, verify teardown."""
        from lanekit.cli.output import console, print_json
        from lanekit.errors import ConfigError
        from lanekit.lanes import registry
        from lanekit.lanes.lifecycle import down as stop_lane

        if sum(bool(x) for x in (name, all_, orphans)) != 1:
            raise ConfigError("name one lane, or pass --all or --orphans", fix="`lanekit ps` lists live lanes")
        if all_:
            names = [r.name for r in registry.list_live()]
        elif orphans:
            names = [r.name for r in registry.orphans()]
        else:
            names = [name]
        reports = [stop_lane(n) for n in names]
        if json_out:
            print_json([dict(r.model_dump(), mem_delta_bytes=r.mem_delta_bytes, memory_back=r.memory_back,
                             verified=r.verified) for r in reports])
        else:
            for r in reports:
                console.print(r.summary(), style="green" if r.verified else "red", markup=False)
            if not reports:
                console.print("no orphans" if orphans else "no live lanes")
        if any(not r.verified for r in reports):
            raise typer.Exit(1)
