"""Interactive plots for the HTML report: each `report.figures.Figure` as a Plotly figure (JSON),
and plotly.js itself to inline, so the page needs no network.

Plotly because its Python package ships the whole plotly.js bundle (`plotly.offline.get_plotlyjs`)
for a file that works offline, and it draws what the figures need — asymmetric error bars, a
second y-axis, hover text, legend groups that toggle a lane's series together.
"""

from __future__ import annotations

import math
from typing import Any

from lanekit.report.figures import Figure, Trace

_DASH = {"solid": "solid", "dash": "dash", "dot": "dot"}
MAX_INTEGER_TICKS = 16


def plotly_js() -> str:
    """The plotly.js bundle to inline in a page."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _error(t: Trace) -> dict[str, Any] | None:
    if t.err_minus is None or t.err_plus is None:
        return None
    return {"type": "data", "symmetric": False, "array": [p if p is not None else 0 for p in t.err_plus],
            "arrayminus": [m if m is not None else 0 for m in t.err_minus], "visible": True, "thickness": 1.5,
            "width": 6, "color": "#222222"}


def _trace(t: Trace, fig: Figure):
    import plotly.graph_objects as go

    common: dict[str, Any] = {"name": t.name, "x": t.x, "y": t.y, "legendgroup": t.lane or t.name,
                              "marker": {"color": t.colour}, "meta": {"lane": t.lane}}
    err = _error(t)
    if err:
        common["error_y"] = err
    if t.text:
        common["hovertext"] = t.text
    if t.y2:
        common["yaxis"] = "y2"
    if t.hidden:
        common["visible"] = "legendonly"
    if t.kind == "bar":
        return go.Bar(**common, opacity=0.35 if t.faded else 0.9, text=t.text, textposition="outside",
                      showlegend=False)
    mode = "markers" if t.kind == "markers" else ("lines+markers" if len(t.x) < 40 else "lines")
    marker = {"color": t.colour, "symbol": "diamond" if t.kind == "markers" else "circle", "size": 8}
    return go.Scatter(**{**common, "marker": marker}, mode=mode, line={"color": t.colour, "dash": _DASH[t.dash]})


def _integer_axis(ticks: list[Any]) -> dict[str, Any]:
    """Whole-number ticks: every value when there are few, else a whole-number step."""
    ints = [int(x) for x in ticks]
    if len(ints) <= MAX_INTEGER_TICKS:
        return {"tickmode": "array", "tickvals": ints, "ticktext": [str(i) for i in ints]}
    span = max(ints) - min(ints)
    return {"tickmode": "linear", "tick0": 0, "dtick": max(1, math.ceil(span / 10)), "tickformat": "d"}


def to_plotly(fig: Figure) -> dict[str, Any]:
    """The figure as Plotly JSON: {"data": [...], "layout": {...}} (validated by plotly)."""
    import plotly.graph_objects as go

    xaxis: dict[str, Any] = {"title": {"text": fig.x_label}, "zeroline": False}
    if fig.x_kind == "category":
        xaxis.update(type="category", categoryorder="array", categoryarray=fig.x_ticks)
    elif fig.integer_x:
        xaxis.update(_integer_axis(fig.x_ticks))
    layout: dict[str, Any] = {
        "title": {"text": fig.title}, "template": "plotly_white", "xaxis": xaxis,
        "yaxis": {"title": {"text": fig.y_label}, "rangemode": "tozero"}, "barmode": "group",
        "legend": {"orientation": "h", "y": -0.25, "groupclick": "togglegroup"}, "hovermode": "closest",
        "margin": {"l": 60, "r": 60 if fig.y2_label else 20, "t": 50, "b": 40}, "height": 420,
    }
    if fig.y2_label and any(t.y2 for t in fig.traces):
        layout["yaxis2"] = {"title": {"text": fig.y2_label}, "overlaying": "y", "side": "right",
                            "showgrid": False, "rangemode": "tozero"}
    import json

    out = go.Figure(data=[_trace(t, fig) for t in fig.traces], layout=layout)
    return json.loads(out.to_json())


__all__ = ["plotly_js", "to_plotly"]
