"""Warnings for a ranked run whose numbers are too noisy to order lanes with confidence.

A pure function of the `BakeoffReport`; it never changes the ranking, it says when to distrust it:
the recommended lane within noise of another, the top two eligible lanes' speeds overlapping, too
few samples for any interval, a wide spread, a drifting sustained run, a bench that warned.
"""

from __future__ import annotations

from lanekit.report import values
from lanekit.results.models import BakeoffReport

MIN_SAMPLES = 3          # fewer speed samples than this give no interval
MAX_SPREAD = 0.15        # (high − low) ÷ point above this is a noisy speed
MAX_DRIFT_PCT = 10.0     # sustained tok/s changing more than this first → last window


def noise_warnings(report: BakeoffReport) -> list[str]:
    """One line per reason to distrust the order of the ranked lanes (empty: nothing to say)."""
    out: list[str] = []
    ranked = [(x, v) for x, v in report.ranked() if v.eligible]
    best = next((x for x, v in ranked if v.recommended), None)
    verdict = report.ranking.of(best.name) if best else None
    ties = list(getattr(verdict, "within_noise_of", None) or [])
    if ties:
        out.append(f"{best.name} is within noise of {', '.join(ties)}: their intervals overlap, so the order "
                   "between them is not measured — repeat the bakeoff with more samples to separate them")
    elif len(ranked) >= 2:
        (a, _), (b, _) = ranked[0], ranked[1]
        unit, va = values.headline(a)
        _, vb = values.headline(b)
        if va.bounded and vb.bounded and va.overlaps(vb):
            what = "intervals" if "interval" in (va.bounds, vb.bounds) else "p10–p90 spreads"
            out.append(f"{a.name} and {b.name} overlap ({va.text('{:.2f}')} vs {vb.text('{:.2f}')} {unit}): "
                       f"their {what} overlap, so their order is within noise")
    for x, _ in ranked:
        unit, v = values.headline(x)
        if v.point is not None and v.n is not None and v.n < MIN_SAMPLES:
            out.append(f"{x.name}: {unit} rests on {v.n} sample(s) — too few for an interval "
                       f"(bench.single.samples ≥ {MIN_SAMPLES})")
        elif v.bounded and v.point and (v.high - v.low) / abs(v.point) > MAX_SPREAD:
            what = "interval" if v.bounds == "interval" else "spread"
            out.append(f"{x.name}: {unit} {what} {v.low:.2f}–{v.high:.2f} is ±{50 * (v.high - v.low) / abs(v.point):.0f} % "
                       "of its value — something else was using the machine, or the lane is unstable")
        drift = x.bench.sustained_drift_pct
        if drift is not None and abs(drift) > MAX_DRIFT_PCT:
            out.append(f"{x.name}: sustained tok/s drifted {drift:+.1f} % from the first to the last window "
                       "(thermal throttling, memory pressure, or another load on the machine)")
        for warning in (x.bench.single or {}).get("warnings") or []:
            out.append(f"{x.name}: single-stream: {warning}")
    return out


__all__ = ["noise_warnings"]
