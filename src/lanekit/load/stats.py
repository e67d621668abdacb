"""Reducers over metric values: median, percentiles, mean. Empty input gives NaN, never a fake 0."""

from __future__ import annotations

import math
from collections.abc import Iterable

NAN = float("nan")


def _clean(values: Iterable[float | int | None]) -> list[float]:
    return sorted(float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v)))


def percentile(values: Iterable[float | int | None], q: float) -> float:
    """The q-th percentile (0–100), linear interpolation between closest ranks; NaN when empty."""
    data = _clean(values)
    if not data:
        return NAN
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def median(values: Iterable[float | int | None]) -> float:
    """The 50th percentile; NaN when empty."""
    return percentile(values, 50)


def mean(values: Iterable[float | int | None]) -> float:
    """Arithmetic mean; NaN when empty."""
    data = _clean(values)
    return sum(data) / len(data) if data else NAN


def ns_to_ms(value: float | None) -> float:
    """Render nanoseconds as milliseconds (None/NaN stay NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NAN
    return value / 1e6


def finite_or_none(value: float | None, ndigits: int | None = None) -> float | None:
    """A JSON-friendly number: NaN/inf become None; optionally rounded."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, ndigits) if ndigits is not None else value
