"""PNG plots for the profile README, drawn with matplotlib from `report.figures` (the same figures
the HTML report draws interactively): error bars where the data has intervals, integer ticks on
count axes, one colour per lane throughout.
"""

from __future__ import annotations

from pathlib import Path

from lanekit.report.figures import Figure, Trace

_DASH = {"solid": "-", "dash": "--", "dot": ":"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _yerr(t: Trace):
    if t.err_minus is None or t.err_plus is None:
        return None
    return [[m or 0.0 for m in t.err_minus], [p or 0.0 for p in t.err_plus]]


def _bar_group(ax, fig: Figure) -> None:
    cats = fig.x_ticks
    for t in fig.traces:
        if t.hidden:
            continue
        pos = [cats.index(x) for x in t.x]
        if t.kind == "bar":
            ax.bar(pos, [y or 0.0 for y in t.y], color=t.colour, alpha=0.35 if t.faded else 0.9, yerr=_yerr(t),
                   capsize=4, ecolor="#222222", label=None)
            for p, y in zip(pos, t.y):
                if y is not None:
                    ax.annotate(f"{y:,.3g}", (p, y), textcoords="offset points", xytext=(0, 3), ha="center",
                                fontsize=8)
        else:
            ax.plot(pos, t.y, linestyle="none", marker="D", color=t.colour, label=t.name)
    ax.set_xticks(range(len(cats)), [str(c) for c in cats], rotation=20 if len(cats) > 3 else 0, ha="right"
                  if len(cats) > 3 else "center", fontsize=8)


def _lines(ax, ax2, fig: Figure) -> None:
    for t in (t for t in fig.traces if not t.hidden):
        target = ax2 if t.y2 and ax2 is not None else ax
        style = "none" if t.kind == "markers" else _DASH[t.dash]
        target.errorbar(t.x, [y if y is not None else float("nan") for y in t.y], yerr=_yerr(t), color=t.colour,
                        linestyle=style, marker="o" if t.kind != "line" or len(t.x) < 30 else None, markersize=4,
                        capsize=3, label=t.name)
        if t.kind == "markers" and t.text:
            for x, y, label in zip(t.x, t.y, t.text):
                target.annotate(label.split(":")[0], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if fig.integer_x:
        ticks = fig.x_ticks
        if len(ticks) <= 16:
            ax.set_xticks(ticks, [str(int(x)) for x in ticks])
        else:
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def axes_of(fig: Figure):
    """(matplotlib figure, main axes) with `fig` drawn on them, not yet saved."""
    plt = _plt()
    n_legend = sum(1 for t in fig.traces if t.kind != "bar")
    mpl_fig, ax = plt.subplots(figsize=(8, 4.6))
    ax2 = ax.twinx() if fig.y2_label and any(t.y2 for t in fig.traces) else None
    if fig.x_kind == "category":
        _bar_group(ax, fig)
    else:
        _lines(ax, ax2, fig)
    ax.set_xlabel(fig.x_label)
    ax.set_ylabel(fig.y_label)
    if ax2 is not None:
        ax2.set_ylabel(fig.y2_label)
    ax.set_title(fig.title)
    ax.grid(alpha=0.3)
    if fig.x_kind != "category" or n_legend:
        handles, labels = ax.get_legend_handles_labels()
        if ax2 is not None:
            h2, l2 = ax2.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        if handles:
            ax.legend(handles, labels, fontsize=7, loc="best")
    mpl_fig.tight_layout()
    return mpl_fig, ax


def draw(fig: Figure, path: Path) -> Path:
    """Render one figure to a PNG at `path`."""
    mpl_fig, _ = axes_of(fig)
    mpl_fig.savefig(path, dpi=110)
    _plt().close(mpl_fig)
    return path


def write_plots(figures: list[Figure], out_dir: Path) -> list[str]:
    """Write one PNG per figure; return the file names written (`<figure id>.png`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [draw(fig, out_dir / f"{fig.id}.png").name for fig in figures]
