"""The numbers a report shows for a lane, each with its interval and sample size when the result
holds one, read in one place so the table, the plots, the comparison and the noise warnings agree.

Intervals come from the result (`bench.intervals`, `eval.intervals`, the replay's `turn_s`) when
the bakeoff computed them; a result without them still gives its point and sample count, and the
single-stream p10–p90 spread where it was recorded. Nothing here computes a statistic anew.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from lanekit.results.models import LaneResult, number


class Value(NamedTuple):
    """A point with its interval (`low`/`high`, None when unknown), its sample size and how the
    bounds were obtained ("interval": a confidence interval; "spread": p10–p90 of the samples)."""

    point: float | None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    bounds: str | None = None

    @property
    def bounded(self) -> bool:
        """Both bounds are known."""
        return self.low is not None and self.high is not None

    def overlaps(self, other: Value) -> bool:
        """The two ranges share a point; a value without bounds overlaps everything (nothing can
        be told apart without them)."""
        if not (self.bounded and other.bounded):
            return True
        return self.low <= other.high and other.low <= self.high

    def text(self, fmt: str = "{:.1f}", with_n: bool = True) -> str:
        """`12.3 [11.9–12.8] n=5`, `12.3 n=1` without bounds, `–` without a point."""
        if self.point is None:
            return "–"
        out = fmt.format(self.point)
        if self.bounded:
            out += f" [{fmt.format(self.low)}–{fmt.format(self.high)}]"
        if with_n and self.n:
            out += f" n={self.n}"
        return out


NONE = Value(None)


def interval(raw: Any, bounds: str = "interval") -> Value | None:
    """A `Value` from an interval model or its JSON form ({point, low, high, n}); None without a point."""
    if raw is None:
        return None
    get = raw.get if isinstance(raw, dict) else (lambda k, d=None: getattr(raw, k, d))
    point = number(get("point"))
    if point is None:
        return None
    low, high = number(get("low")), number(get("high"))
    n = get("n")
    return Value(point, low, high, int(n) if isinstance(n, (int, float)) else None,
                 bounds if low is not None and high is not None else None)


def _intervals(holder: Any) -> dict[str, Any]:
    return dict(getattr(holder, "intervals", None) or {}) if holder is not None else {}


def decode_tok_s(lane: LaneResult) -> Value:
    """Single-stream decode tok/s: the bakeoff's interval, else the p10–p90 spread of the samples."""
    found = interval(_intervals(lane.bench).get("decode_tok_s"))
    if found is not None:
        return found
    single = lane.bench.single or {}
    point = lane.decode_tok_s
    if point is None:
        return NONE
    lo, hi = number(single.get("decode_tok_s_p10")), number(single.get("decode_tok_s_p90"))
    n = single.get("samples")
    spread = lo is not None and hi is not None and (n or 0) > 1
    return Value(point, lo if spread else None, hi if spread else None, int(n) if n else None,
                 "spread" if spread else None)


def ttft_ms(lane: LaneResult) -> Value:
    """Median single-stream time to first token, ms (interval when the bakeoff computed one)."""
    found = interval(_intervals(lane.bench).get("ttft_ms"))
    if found is not None:
        return found
    n = (lane.bench.single or {}).get("samples")
    return Value(lane.bench.ttft_ms, n=int(n) if n else None) if lane.bench.ttft_ms is not None else NONE


def replay(lane: LaneResult) -> dict[str, Any]:
    """The lane's agent-trace replay summary (the bakeoff's `bench.replay`, or a plan's extra
    `replay` scenario); {} when the trace was not replayed."""
    return dict(getattr(lane.bench, "replay", None) or lane.bench.extra.get("replay") or {})


def turn_s(lane: LaneResult) -> Value:
    """Seconds per agent turn on the replayed trace (the agent workload's headline), if replayed."""
    return interval(replay(lane).get("turn_s")) or NONE


def prefix_reuse(lane: LaneResult) -> float | None:
    """Share of the replay's later prompt tokens served from the prefix cache."""
    return number(replay(lane).get("prefix_reuse_after_first"))


def rate(lane: LaneResult, key: str) -> Value:
    """An agent-battery rate (format_error_rate, clean_run_rate, task_success_rate) with its
    Wilson interval when the bakeoff computed one; n is the number of runs (attempts for format)."""
    found = interval(_intervals(lane.eval).get(key))
    if found is not None:
        return found
    point = lane.rate(key)
    if point is None:
        return NONE
    n = lane.eval.n_runs if lane.eval else None
    if key == "format_error_rate" and lane.eval:
        n = lane.eval.summary.get("attempts") or n
    return Value(point, n=int(n) if n else None)


def s_per_success(lane: LaneResult) -> Value:
    """Battery seconds per successful task, when the bakeoff computed it."""
    return interval(_intervals(lane.eval).get("s_per_success")) or NONE


def headline(lane: LaneResult) -> tuple[str, Value]:
    """(unit, value) of the speed that orders lanes: s/turn on the replay when there is one, else
    single-stream tok/s — the same choice the ranking makes."""
    per_turn = turn_s(lane)
    if per_turn.point is not None:
        return "s/turn", per_turn
    return "tok/s", decode_tok_s(lane)


def weights_gb(lane: LaneResult) -> float | None:
    """Weights in GB (1e9 bytes), None when the model file was not sized."""
    return lane.sizing.weights_bytes / 1e9 if lane.sizing.weights_bytes else None


__all__ = ["NONE", "Value", "decode_tok_s", "headline", "interval", "prefix_reuse", "rate", "replay", "s_per_success",
           "ttft_ms", "turn_s", "weights_gb"]
