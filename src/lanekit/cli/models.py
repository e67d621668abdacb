"""`lanekit models`: the embedded models (assembled and verified into the cache on first use)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def models(json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
        """List the models lanekit ships without downloads; assemble the split Qwen GGUF once."""
        from rich.table import Table

        from lanekit.cli.output import console, print_json
        from lanekit.lanes.embedded import status

        rows = status()
        if json_out:
            print_json(rows)
            return
        table = Table("id", "model", "quant", "size", "tools", "status")
        for r in rows:
            size = f"{r['bytes'] / 1e6:,.0f} MB" if r["bytes"] else "-"
            state = f"[green]ok[/] {r['path']}" if r["available"] else f"[red]missing[/] — {r['install']}"
            table.add_row(r["id"], r["title"], r["quant"], size, "yes" if r["calls_tools"] else "no", state)
        console.print(table)
