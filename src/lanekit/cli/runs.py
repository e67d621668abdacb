"""`lanekit runs`: list the runs in the results store, newest first."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add `lanekit runs` to the app."""
    @app.command()
    def runs(
        limit: int = typer.Option(20, "--limit", min=1, help="show at most this many runs"),
        db: str | None = typer.Option(None, "--db", help="results store (default: $LANEKIT_HOME/results.sqlite)"),
        json_out: bool = typer.Option(False, "--json", help="print JSON"),
    ) -> None:
        """List stored runs: id, kind, status (interrupted when the owner died), lanes, samples."""
        from rich.table import Table

        from lanekit.cli.output import console, print_json
        from lanekit.report.store import Store

        with Store(db) as store:
            rows = store.list_runs()[:limit]
        if json_out:
            print_json({"schema_version": 1, "runs": rows})
            return
        if not rows:
            console.print("no runs stored yet (`lanekit bench` or `lanekit bakeoff` records them)")
            return
        table = Table("run", "kind", "status", "lanes", "samples", "what")
        table.columns[0].no_wrap = True  # the id is the start time: keep it whole
        for r in rows:
            meta = r["meta"] or {}
            what = ",".join(meta.get("scenarios") or ([meta["scenario"]] if meta.get("scenario") else [])) \
                or meta.get("model") or ""
            lanes = ", ".join(r["lanes"]) or meta.get("lane") or meta.get("base_url") or "-"
            table.add_row(r["run_id"], r["kind"], r["status"], lanes, str(r["n_samples"]), what)
        console.print(table)
