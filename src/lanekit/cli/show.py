"""`lanekit show RUN`: one stored run — its meta, per-lane summaries and steps (samples on request)."""

from __future__ import annotations

from typing import Any

import typer

SCHEMA_VERSION = 1


def run_document(store: Any, ref: str, with_samples: bool = False) -> dict[str, Any]:
    """The `lanekit show --json` document for a run id, unique prefix or "latest"."""
    run = store.get_run(ref)
    doc = {"schema_version": SCHEMA_VERSION, "run": run, "summaries": store.summaries(run["run_id"]),
           "lane_steps": store.lane_steps(run["run_id"])}
    if with_samples:
        doc["samples"] = store.samples(run["run_id"])
    return doc


def _scalar_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in summary.items():
        if isinstance(value, float):
            rows.append((key, f"{value:,.3f}"))
        elif isinstance(value, (int, str)) and not isinstance(value, bool) and len(str(value)) < 90:
            rows.append((key, str(value)))
        elif isinstance(value, bool) or value is None:
            rows.append((key, "-" if value is None else str(value)))
    return rows


def register(app: typer.Typer) -> None:
    """Add `lanekit show` to the app."""
    @app.command()
    def show(
        run: str = typer.Argument(..., help="run id (a unique prefix works, or `latest`)"),
        samples: bool = typer.Option(False, "--samples", help="include every stored sample (JSON only)"),
        db: str | None = typer.Option(None, "--db", help="results store (default: $LANEKIT_HOME/results.sqlite)"),
        json_out: bool = typer.Option(False, "--json", help="print JSON"),
        csv_out: bool = typer.Option(False, "--csv", help="print every sample and summary as CSV (one row each)"),
    ) -> None:
        """Show one run: status, meta, each lane × scenario summary, and the bakeoff's lane steps."""
        import time

        from rich.table import Table

        from lanekit.cli.output import console, print_json
        from lanekit.report.store import Store

        if csv_out:
            import sys

            from lanekit.report.export import run_rows, write_csv

            if json_out:
                from lanekit.errors import ConfigError

                raise ConfigError("--csv and --json both given", fix="pick one output format")
            with Store(db) as store:
                write_csv(run_rows(store, store.resolve_run_id(run)), sys.stdout)
            return
        with Store(db) as store:
            doc = run_document(store, run, with_samples=samples and json_out)
        if json_out:
            print_json(doc)
            return
        r = doc["run"]
        console.print(f"[bold]{r['run_id']}[/]  {r['kind']}  {r['status']}  "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r['created_at']))}  "
                      f"{r['n_samples']} samples")
        for s in doc["summaries"]:
            table = Table("metric", "value", title=f"{s['lane'] or '-'} · {s['scenario']}", title_justify="left",
                          show_header=False)
            for key, value in _scalar_rows(s["summary"]):
                table.add_row(key, value)
            console.print(table)
            for warning in s["summary"].get("warnings") or []:
                console.print(f"[yellow]warning:[/] {warning}")
        if doc["lane_steps"]:
            table = Table("lane", "step", "status", "detail")
            for st in doc["lane_steps"]:
                detail = ", ".join(f"{k}={v}" for k, v in (st["detail"] or {}).items())
                table.add_row(st["lane"] or "-", st["step"], st["status"], detail[:100])
            console.print(table)
