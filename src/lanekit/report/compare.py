"""Runs side by side: the same lanes across bakeoffs, what changed between them (engine version,
flags, model, hardware) and whether each speed or reliability difference is real or within noise.

A pure function of `BakeoffReport`s (`compare_reports`); the CLI table, `--json` and the HTML
section render its `Comparison`. A difference counts only when both runs have bounds and the
bounds do not overlap; overlapping bounds are "within noise"; a number without bounds is "no
interval" (too few samples to tell), never a silent "better".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from lanekit.report import values
from lanekit.results.models import BakeoffReport, LaneResult, number

SCHEMA_VERSION = 1
Verdict = Literal["better", "worse", "within noise", "no interval", "not measured"]


class Cell(BaseModel):
    """One metric of one lane in one run."""

    point: float | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    bounds: str | None = Field(None, description="interval (95 % CI) or spread (p10–p90)")

    @classmethod
    def of(cls, v: values.Value) -> Cell:
        return cls(point=v.point, low=v.low, high=v.high, n=v.n, bounds=v.bounds)

    def value(self) -> values.Value:
        return values.Value(self.point, self.low, self.high, self.n, self.bounds)


class MetricRow(BaseModel):
    """A metric across runs, judged last run against the first run that has it."""

    metric: str
    unit: str
    larger_is_better: bool
    cells: list[Cell | None] = Field(description="per run, in run order (None: lane absent)")
    delta: float | None = Field(None, description="last − first (rates: in points of 1.0)")
    delta_pct: float | None = Field(None, description="(last − first) ÷ first × 100 (speeds only)")
    verdict: Verdict = "not measured"


class LaneComparison(BaseModel):
    """One lane name across the runs."""

    lane: str
    status: list[str] = Field(description="per run: 'rank N', 'rank N ⭐', '✗ reason', or 'absent'")
    changes: list[str] = Field(default_factory=list, description="what differs in how the lane was run")
    metrics: list[MetricRow] = Field(default_factory=list)


class RunInfo(BaseModel):
    run_id: str
    plan_name: str
    created_at: float | None = None
    recommended: str | None = None
    verdict: str = ""


class Comparison(BaseModel):
    schema_version: int = SCHEMA_VERSION
    runs: list[RunInfo]
    hardware_changes: list[str] = Field(default_factory=list)
    lanes: list[LaneComparison] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _sweep_peak(lane: LaneResult) -> values.Value:
    return values.Value(number((lane.bench.sweep or {}).get("peak_aggregate_tok_s")))


def _drift(lane: LaneResult) -> values.Value:
    return values.Value(lane.bench.sustained_drift_pct)


# (metric, unit, larger is better, getter); rates are fractions of 1
METRICS: list[tuple[str, str, bool, Callable[[LaneResult], values.Value]]] = [
    ("s per agent turn", "s", False, values.turn_s),
    ("decode tok/s", "tok/s", True, values.decode_tok_s),
    ("TTFT", "ms", False, values.ttft_ms),
    ("sweep peak aggregate", "tok/s", True, _sweep_peak),
    ("sustained drift", "%", True, _drift),
    ("format-error rate", "rate", False, lambda x: values.rate(x, "format_error_rate")),
    ("clean-run rate", "rate", True, lambda x: values.rate(x, "clean_run_rate")),
    ("task success", "rate", True, lambda x: values.rate(x, "task_success_rate")),
]


def judge(first: values.Value, last: values.Value, larger_is_better: bool) -> Verdict:
    """Better / worse only when both have bounds that do not overlap."""
    if first.point is None or last.point is None:
        return "not measured"
    if not (first.bounded and last.bounded):
        return "no interval"
    if first.overlaps(last):
        return "within noise"
    return "better" if (last.point > first.point) == larger_is_better else "worse"


def _row(metric: str, unit: str, larger: bool, cells: list[Cell | None]) -> MetricRow | None:
    present = [c for c in cells if c is not None and c.point is not None]
    if not present:
        return None
    row = MetricRow(metric=metric, unit=unit, larger_is_better=larger, cells=cells)
    if len(present) >= 2:
        first, last = present[0], present[-1]
        row.delta = last.point - first.point
        if unit not in ("rate", "%") and first.point:
            row.delta_pct = 100.0 * row.delta / first.point
        row.verdict = judge(first.value(), last.value(), larger)
    return row


def _flat(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of a nested mapping (lists kept whole)."""
    if not isinstance(doc, dict):
        return {prefix: doc}
    out: dict[str, Any] = {}
    for k, v in doc.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(_flat(v, key) if isinstance(v, dict) else {key: v})
    return out


def _args_change(a: list[str], b: list[str]) -> str | None:
    if a == b:
        return None
    added = [x for x in b if x not in a]
    removed = [x for x in a if x not in b]
    parts = [f"added {' '.join(added)}"] if added else []
    parts += [f"removed {' '.join(removed)}"] if removed else []
    return "flags: " + ("; ".join(parts) if parts else "reordered")


def spec_changes(a: LaneResult, b: LaneResult) -> list[str]:
    """What differs between two results of one lane: engine version, flags, spec fields, quant."""
    out = []
    va = a.launch.engine_version if a.launch else None
    vb = b.launch.engine_version if b.launch else None
    if va != vb:
        out.append(f"engine version: {va or '?'} → {vb or '?'}")
    sa, sb = _flat(a.spec), _flat(b.spec)
    flags = _args_change(list(sa.pop("extra_args", None) or []), list(sb.pop("extra_args", None) or []))
    if flags:
        out.append(flags)
    for key in sorted(set(sa) | set(sb)):
        if key in ("name", "port"):
            continue
        if sa.get(key) != sb.get(key):
            out.append(f"{key}: {sa.get(key, '–')} → {sb.get(key, '–')}")
    if a.sizing.quant != b.sizing.quant:
        out.append(f"quant: {a.sizing.quant or '?'} → {b.sizing.quant or '?'}")
    return out


HARDWARE_KEYS = ("profile.name", "profile.bandwidth_gb_s", "profile.unified", "cpu", "cores", "threads",
                 "memory_bytes", "os", "python")


def hardware_changes(reports: list[BakeoffReport]) -> list[str]:
    """Hardware facts that differ between the first and each later run."""
    first = _flat(reports[0].hardware)
    out = []
    for r in reports[1:]:
        other = _flat(r.hardware)
        for key in HARDWARE_KEYS:
            if first.get(key) != other.get(key):
                out.append(f"{key}: {first.get(key, '–')} → {other.get(key, '–')} (run {r.run_id})")
    return out


def _status(report: BakeoffReport, name: str) -> str:
    verdict = report.ranking.of(name)
    if report.lane(name) is None:
        return "absent"
    if verdict is None:
        return "not ranked"
    if verdict.eligible:
        return f"rank {verdict.rank}" + (" ★" if verdict.recommended else "")
    return "✗ " + (verdict.reasons[0] if verdict.reasons else "not eligible")


def compare_reports(reports: list[BakeoffReport]) -> Comparison:
    """Every lane name found in any run, in first-seen order, compared across `reports` (in the
    order given: the first is the baseline)."""
    names: list[str] = []
    for r in reports:
        names += [x.name for x in r.lanes if x.name not in names]
    lanes = []
    for name in names:
        results = [r.lane(name) for r in reports]
        present = [x for x in results if x is not None]
        changes: list[str] = []
        for prev, cur in itertools.pairwise(present):
            changes += spec_changes(prev, cur)
        rows = []
        for metric, unit, larger, get in METRICS:
            row = _row(metric, unit, larger, [Cell.of(get(x)) if x is not None else None for x in results])
            if row is not None:
                rows.append(row)
        lanes.append(LaneComparison(lane=name, status=[_status(r, name) for r in reports], changes=changes,
                                    metrics=rows))
    notes = []
    judged_on_spread = sorted({f"{x.lane} {m.metric}" for x in lanes for m in x.metrics
                               if m.verdict in ("better", "worse")
                               and any(c is not None and c.bounds == "spread" for c in m.cells)})
    if judged_on_spread:
        # a p10-p90 spread holds one run's sample-to-sample variation, not the run-to-run kind (a
        # busy host, thermal state): an unchanged lane measured here at -31 % read "worse" on it
        notes.append("judged on p10–p90 spreads, not confidence intervals (" + ", ".join(judged_on_spread)
                     + "): a spread misses run-to-run variation; repeat the runs before trusting the change")
    plans = {r.plan_name for r in reports}
    if len(plans) > 1:
        notes.append(f"the runs come from different plans ({', '.join(sorted(plans))}): lanes are matched by name")
    digests = {r.plan_digest for r in reports if r.plan_digest}
    if len(plans) == 1 and len(digests) > 1:
        notes.append("the plan changed between runs (different sha256): samples, durations or thresholds may differ")
    return Comparison(runs=[RunInfo(run_id=r.run_id, plan_name=r.plan_name, created_at=r.created_at,
                                    recommended=r.recommended, verdict=r.verdict) for r in reports],
                      hardware_changes=hardware_changes(reports), lanes=lanes, notes=notes)


def previous_run(store, report: BakeoffReport) -> str | None:
    """The newest finished bakeoff of the same plan name before `report`'s run, if any."""
    for run in store.list_runs():
        meta = run.get("meta") or {}
        if (run["run_id"] != report.run_id and run.get("kind") == "bakeoff" and run.get("status") == "finished"
                and (meta.get("plan") or {}).get("name", "bakeoff") == report.plan_name
                and (run.get("created_at") or 0) < (report.created_at or float("inf"))):
            return run["run_id"]
    return None


def cell_text(cell: Cell | None, unit: str) -> str:
    """A cell as the terminal and HTML tables show it."""
    if cell is None:
        return "absent"
    v = cell.value()
    if v.point is None:
        return "–"
    if unit == "rate":
        out = f"{v.point:.0%}"
        if v.bounded:
            out += f" [{v.low:.0%}–{v.high:.0%}]"
        return out + (f" n={v.n}" if v.n else "")
    fmt = {"s": "{:.2f}", "ms": "{:.0f}", "%": "{:+.1f}"}.get(unit, "{:.1f}")
    return v.text(fmt)


def delta_text(row: MetricRow) -> str:
    """`+4.2 % (better)`, `−3 pts (within noise)`, or the verdict alone."""
    if row.delta is None:
        return row.verdict
    if row.unit == "rate":
        change = f"{row.delta * 100:+.0f} pts"
    elif row.delta_pct is not None:
        change = f"{row.delta_pct:+.1f} %"
    else:
        change = f"{row.delta:+.1f}"
    return f"{change} ({row.verdict})"


__all__ = ["Cell", "Comparison", "LaneComparison", "MetricRow", "RunInfo", "cell_text", "compare_reports",
           "delta_text", "hardware_changes", "judge", "previous_run", "spec_changes"]
