"""PNG plots for the profile: decode tok/s per lane, sweep curves, sustained tok/s over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lanekit.results.models import BakeoffReport


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def sweep_points(summary: dict[str, Any] | None) -> list[tuple[int, float, float | None]]:
    """(concurrency, aggregate tok/s, per-request tok/s) from a sweep summary."""
    if not summary:
        return []
    levels = summary.get("levels") or []
    out = []
    for lvl in levels:
        c = lvl.get("concurrency")
        agg = lvl.get("aggregate_tok_s")
        if c is not None and agg is not None:
            out.append((int(c), float(agg), lvl.get("per_request_tok_s")))
    return sorted(out)


def sustained_points(summary: dict[str, Any] | None) -> list[tuple[float, float]]:
    """(seconds since start, tok/s) per interval from a sustained summary."""
    if not summary:
        return []
    out = []
    for item in summary.get("intervals") or []:
        t, v = item.get("t_s"), item.get("tok_s")
        if t is not None and v is not None:
            out.append((float(t), float(v)))
    return out


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str, legend: bool = True) -> Path:
    """Label, grid, legend, save and close one figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def plot_tok_s(report: BakeoffReport, path: Path) -> Path | None:
    data = [(x.name, x.decode_tok_s, x.sizing.decode_ceiling_tok_s, v.eligible) for x, v in report.ranked()
            if x.decode_tok_s]
    if not data:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(data) + 1.8))
    names = [d[0] for d in data]
    colors = ["#2e7d32" if d[3] else "#9e9e9e" for d in data]
    ax.barh(names, [d[1] for d in data], color=colors)
    for i, d in enumerate(data):
        ax.text(d[1], i, f" {d[1]:.1f}", va="center")
    ax.invert_yaxis()
    ax.set_xlabel("single-stream decode tok/s (green: eligible, grey: disqualified)")
    ax.set_title("Decode speed per lane")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_sweep(report: BakeoffReport, path: Path) -> Path | None:
    series = [(x.name, sweep_points(x.bench.sweep)) for x in report.lanes]
    series = [s for s in series if s[1]]
    if not series:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, pts in series:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{name} aggregate")
        per = [(p[0], p[2]) for p in pts if p[2] is not None]
        if per:
            ax.plot([p[0] for p in per], [p[1] for p in per], marker="x", linestyle="--", label=f"{name} per request")
    return _finish(fig, ax, path, "concurrent requests", "tok/s", "Concurrency sweep")


def plot_sustained(report: BakeoffReport, path: Path) -> Path | None:
    series = [(x.name, sustained_points(x.bench.sustained)) for x in report.lanes]
    series = [s for s in series if s[1]]
    if not series:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, pts in series:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=name)
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, path, "seconds", "tok/s per interval", "Sustained load")


def write_plots(report: BakeoffReport, out_dir: Path) -> list[str]:
    """Write every plot that has data; return the file names written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fn, name in ((plot_tok_s, "tok_s.png"), (plot_sweep, "sweep.png"), (plot_sustained, "sustained.png")):
        if fn(report, out_dir / name):
            written.append(name)
    return written
