"""`lanekit compare RUN RUN…`: the same lanes across bakeoffs — what changed, and whether each
speed or reliability difference is real or within noise."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add `lanekit compare` to the app."""
    @app.command()
    def compare(
        runs: list[str] = typer.Argument(  # noqa: B008
            ..., help="two or more bakeoff run ids (prefixes and `latest` work); the first is the baseline"),
        db: str | None = typer.Option(None, "--db", help="results store (default: $LANEKIT_HOME/results.sqlite)"),
        json_out: bool = typer.Option(False, "--json", help="print the comparison as JSON"),
    ) -> None:
        """Compare bakeoff runs lane by lane: engine version, flags, hardware; speed and reliability deltas."""
        from lanekit.cli.output import console, print_json
        from lanekit.cli.tables import compare_view
        from lanekit.errors import ConfigError
        from lanekit.report.compare import compare_reports
        from lanekit.report.profile import build_report
        from lanekit.report.store import Store

        if len(runs) < 2:
            raise ConfigError("compare: give at least two runs", fix="`lanekit runs` lists them, e.g. "
                                                                    "`lanekit compare RUN_A RUN_B`")
        with Store(db) as store:
            ids = [store.resolve_run_id(r) for r in runs]
            if len(set(ids)) < len(ids):
                raise ConfigError("compare: the same run is named twice", fix="name each run once")
            comparison = compare_reports([build_report(store, r) for r in ids])
        if json_out:
            print_json(comparison)
            return
        console.print(compare_view(comparison))
