"""Terminal tables that fit 80 columns: the bakeoff's ranking and the comparison of runs.

Rich tables fold long names and wrap reasons inside their column instead of running past the
edge; the full values are in each command's `--json`.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from lanekit.report import values
from lanekit.report.compare import Comparison, cell_text, delta_text
from lanekit.results.models import BakeoffReport


def _pct(v: values.Value) -> str:
    return "–" if v.point is None else f"{v.point:.0%}"


def ranking_table(report: BakeoffReport) -> Table:
    """Rank, lane, headline speed (interval, n), TTFT, format-error, clean-run, verdict."""
    table = Table(title=f"{report.plan_name} · run {report.run_id}", title_justify="left", expand=False,
                  show_lines=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("lane", overflow="fold", max_width=22)
    table.add_column("speed", overflow="fold", max_width=18)
    table.add_column("TTFT ms", justify="right", no_wrap=True)
    table.add_column("fmt err", justify="right", no_wrap=True)
    table.add_column("clean", justify="right", no_wrap=True)
    table.add_column("verdict", overflow="fold", ratio=1, min_width=12)
    for x, v in report.ranked():
        unit, head = values.headline(x)
        fmt = "{:.2f}" if unit == "s/turn" else "{:.1f}"
        speed = "–" if head.point is None else f"{fmt.format(head.point)} {unit}"
        if head.bounded:
            speed += f"\n{fmt.format(head.low)}–{fmt.format(head.high)}"
        if head.n:
            speed += f"{' ' if head.bounded else chr(10)}n={head.n}"
        ttft = values.ttft_ms(x)
        if v.eligible:
            noise = getattr(v, "within_noise_of", None)
            verdict = Text("⭐ recommended" if v.recommended else "eligible", style="green")
            if noise:
                verdict.append(f" (≈ {', '.join(noise)})", style="dim")
        else:
            reasons = v.reasons or ["not eligible"]
            more = f" (+{len(reasons) - 2} more in the profile)" if len(reasons) > 2 else ""
            verdict = Text("✗ " + "; ".join(reasons[:2]) + more, style="red")
        fer, crr = values.rate(x, "format_error_rate"), values.rate(x, "clean_run_rate")
        table.add_row(str(v.rank) if v.eligible else "✗", x.name + (" (synthetic)" if x.synthetic else ""), speed,
                      "–" if ttft.point is None else f"{ttft.point:,.0f}",
                      "n/a" if x.synthetic else _pct(fer), "n/a" if x.synthetic else _pct(crr), verdict)
    return table


def print_bakeoff_end(console, report: BakeoffReport) -> None:
    """The bakeoff's last words: the ranking table, the noise warnings, where the profile is, the verdict."""
    if report.resumed_lanes:
        console.print(f"resumed run {report.run_id}: skipped finished lanes {', '.join(report.resumed_lanes)}",
                      markup=False)
    console.print(ranking_table(report))
    for warning in report.warnings:
        console.print(Text("warning: " + warning, style="yellow"))
    console.print(f"profile: {report.out_dir}/report.html (and README.md) — run {report.run_id}, "
                  f"{(report.elapsed_s or 0) / 60:.1f} min", markup=False)
    console.print(Text(report.verdict, style="bold red" if report.nothing_measured else "bold"))


def compare_view(comp: Comparison) -> Group:
    """The runs (lettered), what changed, and one table per lane: metric, value per run, change."""
    letters = [chr(ord("A") + i) for i in range(len(comp.runs))]
    parts: list = []
    for letter, run in zip(letters, comp.runs):
        parts.append(Text(f"{letter} = {run.run_id} ({run.plan_name})", overflow="fold"))
    for note in comp.notes + [f"hardware changed: {c}" for c in comp.hardware_changes]:
        parts.append(Text(f"note: {note}", style="yellow", overflow="fold"))
    for lane in comp.lanes:
        table = Table(title=lane.lane, title_justify="left")
        table.add_column("metric", overflow="fold", max_width=16)
        for letter in letters:
            table.add_column(letter, overflow="fold", max_width=22)
        table.add_column("change", overflow="fold", ratio=1, min_width=10)
        table.add_row("status", *lane.status, "")
        for m in lane.metrics:
            style = {"better": "green", "worse": "red"}.get(m.verdict, "dim")
            table.add_row(m.metric, *[cell_text(c, m.unit) for c in m.cells], Text(delta_text(m), style=style))
        parts.append(Text(""))
        parts.append(table)
        for change in lane.changes:
            parts.append(Text(f"  changed: {change}", overflow="fold"))
    parts.append(Text("\nbetter/worse: bounds that do not overlap; within noise: they overlap; no interval: "
                      "too few samples to tell.", style="dim"))
    return Group(*parts)


__all__ = ["compare_view", "print_bakeoff_end", "ranking_table"]
