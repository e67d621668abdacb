"""`lanekit models`: the embedded models (assembled and verified into the cache on first use)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def models(json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
        """List the models lanekit ships without downloads; assemble the split Qwen GGUF once."""
        from rich.table import Table
        from rich.text import Text

        from lanekit.cli.output import console, print_json
        from lanekit.lanes.embedded import status

        rows = status()
        if json_out:
            print_json(rows)
            return
        # the id is what a lane's `model:` takes: never cut; titles and paths go under the table, folded
        table = Table("id", "quant", "size", "tools", "status")
        table.columns[0].no_wrap = True
        for r in rows:
            size = f"{r['bytes'] / 1e6:,.0f} MB" if r["bytes"] else "-"
            state = Text("ok", style="green") if r["available"] else Text("missing", style="red")
            table.add_row(r["id"], r["quant"], size, "yes" if r["calls_tools"] else "no", state)
        console.print(table)
        for r in rows:
            where = r["path"] if r["available"] else f"install: {r['install']}"
            console.print(Text(f"{r['id']}: {r['title']}", overflow="fold"))
            console.print(Text(f"  {where}", overflow="fold"))
