"""`lanekit profile RUN`: re-render a bakeoff's profile directory from the results store."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def profile(
        run: str = typer.Argument(..., help="bakeoff run id (see `lanekit runs`; a prefix or `latest` works)"),
        out: Path = typer.Option(Path("lanekit-profile"), "--out",  # noqa: B008
                                 help="profile directory to write (replaced whole)"),
        compare: list[str] | None = typer.Option(  # noqa: B008
            None, "--compare", help="a run to compare against in report.html (repeatable; default: the previous "
                                    "run of the plan)"),
        no_compare: bool = typer.Option(False, "--no-compare", help="no comparison section"),
        appliance: Path | None = typer.Option(  # noqa: B008
            None, "--appliance", help="appliance file: its lanes become one llama-swap group that runs together"),
        db: str | None = typer.Option(None, "--db", help="results store (default: $LANEKIT_HOME/results.sqlite)"),
        json_out: bool = typer.Option(False, "--json", help="print the written paths as JSON"),
    ) -> None:
        """Write report.html, README, manifest, launch scripts, Hermes and llama-swap configs, plots, raw data."""
        from lanekit.cli.output import console, print_json
        from lanekit.report.profile import write_profile
        from lanekit.report.store import Store

        with Store(db) as store:
            run_id = store.resolve_run_id(run)
            path = write_profile(store, run_id, out, compare_with=[] if no_compare else (compare or None),
                                 appliance=appliance)
        if json_out:
            print_json({"run_id": run_id, "out_dir": str(path), "manifest": str(path / "manifest.json"),
                        "report_html": str(path / "report.html"), "readme": str(path / "README.md")})
        else:
            console.print(f"profile of run {run_id} written (open report.html, or read README.md):", markup=False)
            console.print(f"  {path / 'report.html'}", markup=False)
            console.print(f"  {path / 'README.md'}", markup=False)
