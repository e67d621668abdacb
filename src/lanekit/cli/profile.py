"""`lanekit profile RUN`: re-render a bakeoff's profile directory from the results store."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def profile(
        run: str = typer.Argument(..., help="run id (see `lanekit runs`)"),
        out: Path = typer.Option(Path("lanekit-profile"), "--out", help="profile directory to write"),
        json_out: bool = typer.Option(False, "--json", help="print the manifest path as JSON"),
    ) -> None:
        """Write README, manifest, launch scripts, Hermes config, plots and raw data for RUN."""
        from lanekit.cli.output import console, print_json
        from lanekit.report.profile import write_profile
        from lanekit.report.store import Store

        path = write_profile(Store(), run, out)
        if json_out:
            print_json({"run_id": run, "out_dir": str(path), "manifest": str(path / "manifest.json")})
        else:
            console.print(f"profile written to {path}/README.md")
