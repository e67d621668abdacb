"""What each profile plot shows, as data: a pure function of the `BakeoffReport` (and the
telemetry samples stored beside sustained runs). The PNG and the interactive renderers draw these
`Figure`s and decide nothing; a figure whose data is absent is simply not built.

Every lane keeps one colour in every figure (its place in the plan), so a sweep's aggregate and
per-request lines, a bar and a table row can be paired by eye; counts on an axis are integers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from lanekit.report import values
from lanekit.results.models import BakeoffReport, LaneResult, number

# Okabe–Ito, then Tableau: distinguishable with the common colour-vision deficiencies
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
           "#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#9C755F", "#76B7B2", "#EDC948", "#FF9DA7")


class Trace(BaseModel):
    """One series of one figure."""

    lane: str
    name: str = Field(description="legend label")
    colour: str
    kind: Literal["bar", "line", "markers"] = "line"
    dash: Literal["solid", "dash", "dot"] = "solid"
    x: list[Any]
    y: list[float | None]
    err_minus: list[float | None] | None = Field(None, description="distance below y (None: no bar)")
    err_plus: list[float | None] | None = None
    y2: bool = Field(False, description="drawn against the right-hand axis")
    text: list[str] | None = None
    faded: bool = Field(False, description="a disqualified lane")
    hidden: bool = Field(False, description="off until asked for (its scale would flatten the rest)")


class Figure(BaseModel):
    """One plot: axes, the series, and the notes printed under it."""

    id: str
    title: str
    x_label: str
    y_label: str
    y2_label: str | None = None
    x_kind: Literal["category", "linear"] = "linear"
    integer_x: bool = False
    traces: list[Trace]
    notes: list[str] = Field(default_factory=list)

    @property
    def x_ticks(self) -> list[Any]:
        """The distinct x values in order (the tick positions of an integer or category axis)."""
        seen: list[Any] = []
        for t in self.traces:
            seen += [x for x in t.x if x not in seen]
        return sorted(seen) if self.x_kind == "linear" else seen


def lane_colours(names: list[str]) -> dict[str, str]:
    """A colour per lane name, in the order given (plan order: stable across re-renders)."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _series(lane: str, label: str, colour: str, pts: list[tuple[Any, float | None]], **kw: Any) -> Trace:
    """A line of (x, y) points for one lane, labelled `<lane> · <label>`."""
    return Trace(lane=lane, name=f"{lane} · {label}", colour=colour, x=[p[0] for p in pts], y=[p[1] for p in pts],
                 **kw)


def _errors(vals: list[values.Value]) -> tuple[list[float | None] | None, list[float | None] | None]:
    if not any(v.bounded for v in vals):
        return None, None
    minus = [v.point - v.low if v.bounded else None for v in vals]
    plus = [v.high - v.point if v.bounded else None for v in vals]
    return minus, plus


def _speed_bars(report: BakeoffReport, colours: dict[str, str], unit: str) -> Figure | None:
    """Bars of the headline speed (tok/s or s/turn) with their intervals, in ranking order."""
    get = values.turn_s if unit == "s/turn" else values.decode_tok_s
    rows = [(x, v, get(x)) for x, v in report.ranked()]
    rows = [r for r in rows if r[2].point is not None]
    if not rows:
        return None
    traces = []
    for x, verdict, val in rows:
        minus, plus = _errors([val])
        traces.append(Trace(lane=x.name, name=x.name, colour=colours[x.name], kind="bar", x=[x.name], y=[val.point],
                            err_minus=minus, err_plus=plus, faded=not verdict.eligible,
                            text=[val.text("{:.2f}" if unit == "s/turn" else "{:.1f}")]))
    notes = _bounds_note([r[2] for r in rows])
    if unit == "tok/s":
        ceil = [(x.name, x.sizing.decode_ceiling_tok_s) for x, _, _ in rows if x.sizing.decode_ceiling_tok_s]
        if ceil:
            tallest = max(r[2].point for r in rows)
            traces.append(Trace(lane="", name="bandwidth ceiling", colour="#444444", kind="markers",
                                x=[c[0] for c in ceil], y=[c[1] for c in ceil],
                                hidden=max(c[1] for c in ceil) > 3 * tallest))
        notes.append("Faded bars: lanes the ranking disqualified (reasons in the table).")
        if traces[-1].hidden:
            notes.append("The bandwidth ceiling is far above every lane: click it in the legend to show it.")
        return Figure(id="speed", title="Single-stream decode speed per lane", x_label="lane",
                      y_label="decode tok/s (higher is better)", x_kind="category", traces=traces, notes=notes)
    return Figure(id="turn", title="Seconds per agent turn (replayed trace)", x_label="lane",
                  y_label="s per turn (lower is better)", x_kind="category", traces=traces, notes=notes)


def _bounds_note(vals: list[values.Value]) -> list[str]:
    kinds = {v.bounds for v in vals if v.bounded}
    notes = []
    if "interval" in kinds:
        notes.append("Error bars: 95 % confidence intervals.")
    if "spread" in kinds:
        notes.append("Error bars: p10–p90 of the samples (this run computed no confidence interval).")
    if not kinds:
        notes.append("No error bars: too few samples for an interval.")
    return notes


def sweep_points(summary: dict[str, Any] | None) -> list[tuple[int, float, float | None]]:
    """(concurrency, aggregate tok/s, per-request tok/s) from a sweep summary, by concurrency."""
    out = []
    for lvl in (summary or {}).get("levels") or []:
        c, agg = lvl.get("concurrency"), number(lvl.get("aggregate_tok_s"))
        if c is not None and agg is not None:
            out.append((int(c), agg, number(lvl.get("per_request_tok_s"))))
    return sorted(out)


def _sweep(report: BakeoffReport, colours: dict[str, str]) -> Figure | None:
    traces = []
    for x in report.lanes:
        pts = sweep_points(x.bench.sweep)
        if not pts:
            continue
        c = colours[x.name]
        traces.append(_series(x.name, "aggregate", c, [(p[0], p[1]) for p in pts]))
        per = [(p[0], p[2]) for p in pts if p[2] is not None]
        if per:
            traces.append(_series(x.name, "per request", c, per, dash="dash"))
    if not traces:
        return None
    return Figure(id="sweep", title="Concurrency sweep: aggregate vs per request", x_label="concurrent requests",
                  y_label="tok/s", x_kind="linear", integer_x=True, traces=traces,
                  notes=["Solid: all streams together; dashed: what one request sees. Same colour, same lane."])


def depth_rows(lane: LaneResult) -> list[dict[str, Any]]:
    """Per-depth rows of a long-context measurement (the bakeoff's `context`, or a `depth` scenario)."""
    bench = lane.bench
    doc = getattr(bench, "context", None) or bench.extra.get("context") or bench.extra.get("depth") or {}
    return [r for r in doc.get("depths") or [] if r.get("depth") is not None]


def _depth(report: BakeoffReport, colours: dict[str, str]) -> Figure | None:
    traces = []
    for x in report.lanes:
        rows = depth_rows(x)
        if not rows:
            continue
        c, depths = colours[x.name], [int(r["depth"]) for r in rows]
        cold = [values.interval(r.get("decode_tok_s_iv")) or values.Value(number(r.get("decode_tok_s"))) for r in rows]
        minus, plus = _errors(cold)
        traces.append(Trace(lane=x.name, name=f"{x.name} · decode tok/s", colour=c, x=depths,
                            y=[v.point for v in cold], err_minus=minus, err_plus=plus))
        for key, label, dash in (("ttft_ms", "TTFT cold", "dash"), ("ttft_ms_warm", "TTFT warm", "dot")):
            ys = [number(r.get(key)) for r in rows]
            if any(y is not None for y in ys):
                traces.append(Trace(lane=x.name, name=f"{x.name} · {label} ms", colour=c, dash=dash, x=depths, y=ys,
                                    y2=True))
    if not traces:
        return None
    return Figure(id="depth", title="Speed at context depth", x_label="prompt tokens already in context",
                  y_label="decode tok/s", y2_label="TTFT ms", integer_x=True, traces=traces,
                  notes=[("Solid: decode (left axis); dashed: cold TTFT, dotted: warm (prefix cached) TTFT "
                          "(right axis).")])


def sustained_points(summary: dict[str, Any] | None) -> list[tuple[float, float]]:
    """(seconds since start, tok/s) per interval of a sustained summary."""
    out = []
    for item in (summary or {}).get("intervals") or []:
        t, v = number(item.get("t_s")), number(item.get("tok_s"))
        if t is not None and v is not None:
            out.append((t, v))
    return out


def telemetry_by_lane(samples: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Telemetry rows of each lane's sustained run (store samples of kind "telemetry"), with `t_s`
    counted from the first reading (taken as the timed window opened)."""
    by_lane: dict[str, list[dict[str, Any]]] = {}
    for s in samples:
        data = s.get("data") or {}
        if s.get("scenario") == "sustained" and data.get("kind") == "telemetry" and data.get("t_ns") is not None:
            by_lane.setdefault(s.get("lane") or "", []).append(data)
    out = {}
    for lane, rows in by_lane.items():
        t0 = min(r["t_ns"] for r in rows)
        out[lane] = [{**r, "t_s": (r["t_ns"] - t0) / 1e9} for r in sorted(rows, key=lambda r: r["t_ns"])]
    return out


def _sustained(report: BakeoffReport, colours: dict[str, str],
               telemetry: dict[str, list[dict[str, Any]]]) -> list[Figure]:
    traces, gpu = [], []
    for x in report.lanes:
        pts = sustained_points(x.bench.sustained)
        if not pts:
            continue
        c = colours[x.name]
        traces.append(_series(x.name, "tok/s", c, pts))
        rows = telemetry.get(x.name) or []
        mem = [(r["t_s"], r["mem_available_bytes"] / 1e9) for r in rows if r.get("mem_available_bytes") is not None]
        if mem:
            traces.append(_series(x.name, "free memory GB", c, mem, dash="dot", y2=True))
        # the first GPU's readings (one lane, one device in every plan lanekit runs today)
        for key, label, dash, y2 in (("temp_c", "GPU °C", "solid", False), ("power_w", "GPU W", "dash", False),
                                     ("sm_clock_mhz", "SM MHz", "dot", True)):
            pts_g = [(r["t_s"], number((r.get("gpus") or [{}])[0].get(key))) for r in rows if r.get("gpus")]
            if any(p[1] is not None for p in pts_g):
                gpu.append(_series(x.name, label, c, pts_g, dash=dash, y2=y2))
    out = []
    if traces:
        out.append(Figure(id="sustained", title="Sustained load, with host memory", x_label="seconds",
                          y_label="tok/s per window", y2_label="MemAvailable GB" if any(t.y2 for t in traces) else None,
                          traces=traces, notes=[("Solid: throughput per window (left axis); dotted: the host's "
                                                 "available memory during the run (right axis).")]))
    if gpu:
        out.append(Figure(id="gpu", title="GPU telemetry during sustained load", x_label="seconds",
                          y_label="°C / W", y2_label="SM clock MHz", traces=gpu,
                          notes=["A falling SM clock with a rising temperature is thermal throttling."]))
    return out


def _per_turn(report: BakeoffReport, colours: dict[str, str]) -> Figure | None:
    traces = []
    for x in report.lanes:
        rows = values.replay(x).get("per_turn") or []
        rows = [r for r in rows if number(r.get("e2e_s")) is not None]
        if not rows:
            continue
        idx = list(range(1, len(rows) + 1))
        labels = [f"session {r.get('session')} turn {r.get('turn')} · {r.get('isl')} prompt tokens "
                  f"({r.get('cached')} cached)" for r in rows]
        traces.append(Trace(lane=x.name, name=f"{x.name} · seconds", colour=colours[x.name], x=idx,
                            y=[number(r.get("e2e_s")) for r in rows], text=labels))
        ttft = [number(r.get("ttft_ms")) for r in rows]
        if any(t is not None for t in ttft):
            traces.append(Trace(lane=x.name, name=f"{x.name} · TTFT s", colour=colours[x.name], dash="dot", x=idx,
                                y=[t / 1000 if t is not None else None for t in ttft], text=labels))
    if not traces:
        return None
    return Figure(id="per_turn", title="Per-turn latency on the agent's own workload", x_label="request of the trace",
                  y_label="seconds", integer_x=True, traces=traces,
                  notes=["Solid: the whole turn; dotted: time to first token. Medians over the replay's repeats."])


def _quality(report: BakeoffReport, colours: dict[str, str]) -> list[Figure]:
    lanes = [x for x in report.lanes if x.quality is not None]
    if not lanes:
        return []
    traces = []
    for x in lanes:
        q = x.quality
        err = [q.ppl.ppl_err] if q.ppl.ppl_err else None
        traces.append(Trace(lane=x.name, name=x.name, colour=colours[x.name], kind="bar", x=[x.name], y=[q.ppl.ppl],
                            err_minus=err, err_plus=err, text=[f"{q.ppl.ppl:.3f}"]))
    out = [Figure(id="quality", title="Perplexity per lane (same corpus, same tokens)", x_label="lane",
                  y_label="PPL (lower is better)", x_kind="category", traces=traces,
                  notes=["Error bars: llama.cpp's ± over the chunks."])]
    ab = [x for x in lanes if x.quality.kld is not None and x.decode_tok_s is not None]
    if ab:
        ab_traces = []
        for x in ab:
            k = x.quality.kld
            err = [k.kld_err] if k.kld_err else None
            ab_traces.append(Trace(lane=x.name, name=x.name, colour=colours[x.name], kind="markers",
                                   x=[x.decode_tok_s], y=[k.kld_mean], err_minus=err, err_plus=err,
                                   text=[f"{x.name}: KLD {k.kld_mean:.4f}, top-1 {k.same_top:.1%} vs {k.base}"]))
        out.append(Figure(id="quant_ab", title="Quant A/B: divergence from the base vs speed",
                          x_label="decode tok/s", y_label="KLD vs base (lower is better)", traces=ab_traces,
                          notes=["Up and to the left is worse on both. KLD of top-k-only lanes is a lower bound."]))
    return out


def build_figures(report: BakeoffReport, telemetry: dict[str, list[dict[str, Any]]] | None = None) -> list[Figure]:
    """Every figure the report has data for, in reading order."""
    colours = lane_colours([x.name for x in report.lanes])
    figs: list[Figure | None] = [_speed_bars(report, colours, "s/turn"), _speed_bars(report, colours, "tok/s"),
                                 _per_turn(report, colours), _sweep(report, colours), _depth(report, colours)]
    out = [f for f in figs if f is not None]
    out += _sustained(report, colours, telemetry or {})
    out += _quality(report, colours)
    return out


__all__ = [
    "PALETTE",
    "Figure",
    "Trace",
    "build_figures",
    "depth_rows",
    "lane_colours",
    "sustained_points",
    "sweep_points",
    "telemetry_by_lane",
]
