"""`lanekit ps`: list live lanes lanekit started (stale records are pruned, never killed)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def ps(json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
        """List live lanes (and orphans of a dead lanekit): name, state, engine, pid, port, ctx, RSS."""
        from rich.table import Table

        from lanekit.cli.output import console, print_json
        from lanekit.lanes import registry

        rows = [registry.as_row(r) for r in registry.list_live()]
        if json_out:
            print_json(rows)
            return
        if not rows:
            console.print("no live lanes")
            return
        table = Table("name", "state", "engine", "pid", "port", "ctx", "uptime", "RSS")
        for r in rows:
            rss = f"{r['rss_bytes'] / (1 << 20):.0f} MiB" if r["rss_bytes"] else "-"
            ctx = f"{r['served_ctx']:,}" + ("!" if r["ctx_warning"] else "")
            state = r["state"] if r["state"] == "live" else f"[red]{r['state']}[/]"
            table.add_row(r["name"], state, r["engine"], str(r["pid"]), str(r["port"]), ctx,
                          f"{r['uptime_s']:.0f}s", rss)
        console.print(table)
        stray = [r for r in rows if r["state"] != "live"]
        if stray:
            console.print(f"{len(stray)} lane(s) outlived their lanekit process: `lanekit down --orphans` stops "
                          "them", style="yellow", markup=False)
        for r in rows:
            if r["ctx_warning"]:
                console.print(f"! {r['name']} {r['ctx_warning']}", markup=False, style="yellow")
