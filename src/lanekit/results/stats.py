"""Intervals a user can trust: Wilson score intervals for rates, bootstrap intervals for speeds
and latencies, and the one rule that decides whether two lanes differ or sit "within noise".

Every interval carries its sample size `n`. Too few samples give an interval with no bounds
(`low`/`high` None), never a made-up one: a rate needs one trial, a speed `MIN_SPEED_SAMPLES`.
Bootstraps are seeded, so the same samples always give the same interval (a profile re-rendered
from the store shows the same numbers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240917
MIN_SPEED_SAMPLES = 3  # the floor: fewer repeats than this give a point and no interval
MAD_SCALE = 1.4826  # MAD × this estimates σ for normal data

Method = Literal["wilson", "bootstrap-median", "bootstrap-mean", "stratified-bootstrap-mean", "none"]


class Interval(BaseModel):
    """A point estimate with its confidence bounds and the number of samples behind it."""

    point: float | None = None
    low: float | None = None
    high: float | None = None
    n: int = 0
    method: Method = "none"
    confidence: float = CONFIDENCE

    @property
    def bounded(self) -> bool:
        """Both bounds are known (enough samples)."""
        return self.low is not None and self.high is not None

    @property
    def half_width(self) -> float | None:
        """Half the interval's width (None without bounds)."""
        return (self.high - self.low) / 2 if self.bounded else None

    def overlaps(self, other: Interval) -> bool:
        """The two intervals share a point. An unbounded interval overlaps everything: with too
        few samples nothing can be told apart."""
        if not (self.bounded and other.bounded):
            return True
        return self.low <= other.high and other.low <= self.high

    def render(self, fmt: str = "{:.2f}") -> str:
        """`1.23 [1.10–1.40] n=9`, `1.23 n=2` without bounds, `–` without a point."""
        if self.point is None:
            return "–"
        head = fmt.format(self.point)
        if self.bounded:
            head += f" [{fmt.format(self.low)}–{fmt.format(self.high)}]"
        return f"{head} n={self.n}"


def _finite(values: Sequence[float | int | None]) -> np.ndarray:
    arr = np.array([float(v) for v in values if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """Wilson score interval of a rate (successes out of n); no bounds with n = 0.

    Formula: centre = (p + z²/2n) / (1 + z²/n); half = z·sqrt(p(1−p)/n + z²/4n²) / (1 + z²/n).
    Unlike p ± z·sqrt(p(1−p)/n) it stays inside [0, 1] and is not zero-width at 0/n or n/n.
    """
    if n <= 0:
        return Interval(n=0, method="wilson", confidence=confidence)
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} not within 0..{n}")
    z = _z(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(
        point=p,
        low=max(0.0, centre - half),
        high=min(1.0, centre + half),
        n=n,
        method="wilson",
        confidence=confidence,
    )


def median_mad(values: Sequence[float | int | None]) -> tuple[float | None, float | None]:
    """(median, scaled MAD = 1.4826 × median |x − median|); None for no values."""
    arr = _finite(values)
    if arr.size == 0:
        return None, None
    med = float(np.median(arr))
    return med, float(MAD_SCALE * np.median(np.abs(arr - med)))


def bootstrap(
    values: Sequence[float | int | None],
    stat: Literal["median", "mean"] = "median",
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    min_n: int = MIN_SPEED_SAMPLES,
) -> Interval:
    """Percentile-bootstrap interval of the median (or mean) of `values`; bounds need `min_n` values."""
    arr = _finite(values)
    method: Method = "bootstrap-median" if stat == "median" else "bootstrap-mean"
    if arr.size == 0:
        return Interval(n=0, method=method, confidence=confidence)
    fn = np.median if stat == "median" else np.mean
    point = float(fn(arr))
    if arr.size < min_n:
        return Interval(point=point, n=int(arr.size), method=method, confidence=confidence)
    rng = np.random.default_rng(seed)
    draws = arr[rng.integers(0, arr.size, size=(resamples, arr.size))]
    stats = fn(draws, axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return Interval(
        point=point, low=float(low), high=float(high), n=int(arr.size), method=method, confidence=confidence
    )


def stratified_mean(
    strata: Sequence[Sequence[float | int | None]],
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    min_repeats: int = MIN_SPEED_SAMPLES,
) -> Interval:
    """Mean over strata of each stratum's mean, with a bootstrap that resamples within each stratum.

    A stratum is one request position of a replayed trace, holding that request's repeats. The
    trace's mix of long and short turns is the same for every lane, so only the spread of repeats
    of the same request is noise; resampling turns across positions would count the mix as noise
    and call every pair of lanes equal. Bounds need `min_repeats` repeats in every stratum.
    """
    groups = [g for g in (_finite(s) for s in strata) if g.size]
    method: Method = "stratified-bootstrap-mean"
    n = int(sum(g.size for g in groups))
    if not groups:
        return Interval(n=0, method=method, confidence=confidence)
    point = float(np.mean([g.mean() for g in groups]))
    if min(g.size for g in groups) < min_repeats:
        return Interval(point=point, n=n, method=method, confidence=confidence)
    rng = np.random.default_rng(seed)
    means = np.zeros(resamples)
    for g in groups:
        means += g[rng.integers(0, g.size, size=(resamples, g.size))].mean(axis=1)
    means /= len(groups)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(point=point, low=float(low), high=float(high), n=n, method=method, confidence=confidence)


def ratio_bootstrap(
    numerators: Sequence[float],
    denominators: Sequence[float],
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    min_n: int = MIN_SPEED_SAMPLES,
) -> Interval:
    """Σnum / Σden with a bootstrap over the paired units (e.g. seconds per successful task: each
    run's wall seconds over its success 0/1). No point when Σden is 0."""
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    if num.size != den.size:
        raise ValueError("numerators and denominators differ in length")
    n = int(num.size)
    method: Method = "bootstrap-mean"
    if n == 0 or den.sum() <= 0:
        return Interval(n=n, method=method, confidence=confidence)
    point = float(num.sum() / den.sum())
    if n < min_n:
        return Interval(point=point, n=n, method=method, confidence=confidence)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    dsum = den[idx].sum(axis=1)
    ok = dsum > 0
    if ok.mean() < 1 - (1 - confidence) / 2:  # too many resamples with no success: no honest bound
        return Interval(point=point, n=n, method=method, confidence=confidence)
    ratios = num[idx].sum(axis=1)[ok] / dsum[ok]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return Interval(point=point, low=float(low), high=float(high), n=n, method=method, confidence=confidence)


def noise_groups(intervals: Sequence[Interval]) -> list[int]:
    """A group number per interval, in the given (ranked) order: a new group starts only where an
    interval no longer overlaps every interval of the current group ("within noise" otherwise)."""
    groups: list[int] = []
    current: list[Interval] = []
    group = 0
    for iv in intervals:
        if current and not all(iv.overlaps(c) for c in current):
            group += 1
            current = []
        current.append(iv)
        groups.append(group)
    return groups


__all__ = [
    "Interval",
    "bootstrap",
    "median_mad",
    "noise_groups",
    "ratio_bootstrap",
    "stratified_mean",
    "wilson",
]
