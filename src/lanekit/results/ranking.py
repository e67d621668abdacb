"""Ranking: reliability disqualifies, speed orders — a pure function of `LaneResult`s.

A lane is eligible only with a doctor pass, format-error rate ≤ the threshold and clean-run
rate ≥ the threshold (synthetic lanes never are: they have no reliability). Eligible lanes are
ordered by single-stream decode tok/s, ties broken by lower memory.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from lanekit.results.models import LaneResult, LaneVerdict, Ranking

EARLY_STEPS = ("fit", "guard", "up")


class RankingCfg(BaseModel):
    """The plan's `ranking:` thresholds."""

    model_config = ConfigDict(extra="forbid")

    require_doctor_pass: bool = True
    max_format_error_rate: float = Field(0.0, ge=0, le=1)
    min_clean_run_rate: float = Field(1.0, ge=0, le=1)


def reasons_against(lane: LaneResult, cfg: RankingCfg) -> list[str]:
    """Why `lane` is not eligible (empty: it is)."""
    failure = lane.failure
    if failure is not None and failure.step in EARLY_STEPS:
        return [f"failed at {failure.step}: {failure.reason}".strip()]
    reasons: list[str] = []
    if failure is not None:
        reasons.append(f"failed at {failure.step}: {failure.reason}".strip())
    if lane.synthetic:
        reasons.append("synthetic weights: speed only, reliability not measured")
    verdict = lane.doctor_verdict
    if cfg.require_doctor_pass and verdict not in ("pass", "warn"):
        failing = ", ".join(lane.doctor.failures if lane.doctor else []) or "not run"
        reasons.append(f"doctor {verdict or 'not run'} ({failing})")
    if not lane.synthetic:
        reasons += _reliability(lane, cfg)
    if lane.decode_tok_s is None:
        reasons.append("no single-stream speed measured")
    return reasons


def _reliability(lane: LaneResult, cfg: RankingCfg) -> list[str]:
    out = []
    fer, crr = lane.rate("format_error_rate"), lane.rate("clean_run_rate")
    if fer is None:
        out.append("format-error rate not measured")
    elif fer > cfg.max_format_error_rate:
        counts = lane.eval.error_counts if lane.eval else {}
        what = ", ".join(f"{cls} ×{n}" for cls, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n)
        out.append(f"format-error rate {fer:.0%} > {cfg.max_format_error_rate:.0%}" + (f" ({what})" if what else ""))
    if crr is None:
        out.append("clean-run rate not measured")
    elif crr < cfg.min_clean_run_rate:
        unclean = lane.eval.unclean_runs if lane.eval else []
        what = ", ".join(f"{r.task}: {r.why}" for r in unclean[:4]) + (" …" if len(unclean) > 4 else "")
        out.append(f"clean-run rate {crr:.0%} < {cfg.min_clean_run_rate:.0%}" + (f" ({what})" if what else ""))
    return out


def rank(lanes: list[LaneResult], cfg: RankingCfg) -> Ranking:
    """Verdict per lane (eligible first, in rank order) and the one-sentence conclusion."""
    judged = [(lane, reasons_against(lane, cfg)) for lane in lanes]
    eligible = sorted((x for x in judged if not x[1]),
                      key=lambda x: (-(x[0].decode_tok_s or 0.0), x[0].sizing.total_bytes or 0))
    verdicts = [LaneVerdict(name=lane.name, eligible=True, rank=i, recommended=i == 1)
                for i, (lane, _) in enumerate(eligible, 1)]
    verdicts += [LaneVerdict(name=lane.name, eligible=False, reasons=why) for lane, why in judged if why]
    measured = sum(1 for lane in lanes if lane.measured)
    best = next((lane for lane, _ in eligible), None)
    return Ranking(verdicts=verdicts, verdict=verdict_line(lanes, best, measured), measured_lanes=measured,
                   recommended=best.name if best else None)


def verdict_line(lanes: list[LaneResult], best: LaneResult | None, measured: int) -> str:
    """One plain sentence: the recommended lane, that none is eligible, or that none was measured."""
    if lanes and measured == 0:
        why = "; ".join(f"{x.name} at {x.failure.step}: {x.failure.reason}" for x in lanes[:3] if x.failure)
        more = f" (+{len(lanes) - 3} more)" if len(lanes) > 3 else ""
        return f"No lane could be measured: every lane failed before its measurements finished — {why}{more}."
    if best is None:
        return ("No lane is eligible: every lane failed a gate (reasons listed per lane); "
                "nothing is recommended.")
    return (f"Recommended: {best.name} — {best.decode_tok_s or 0:.1f} tok/s single-stream, "
            f"format-error rate {best.rate('format_error_rate') or 0:.0%}, "
            f"clean-run rate {best.rate('clean_run_rate') or 0:.0%}.")
