"""Ranking: reliability disqualifies, speed orders.

A lane is eligible only with a doctor pass, format-error rate ≤ the threshold and clean-run
rate ≥ the threshold (synthetic lanes never are: they have no reliability). Eligible lanes are
ordered by single-stream decode tok/s, ties broken by lower memory.
"""

from __future__ import annotations

import math
from typing import Any

from lanekit.bakeoff.plan import RankingCfg


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def eligibility(lane: dict[str, Any], cfg: RankingCfg) -> tuple[bool, list[str]]:
    """(eligible, reasons it is not) for one lane result dict."""
    reasons: list[str] = []
    if lane.get("failed_step") and lane.get("failed_step") in ("fit", "guard", "up"):
        return False, [f"failed at {lane['failed_step']}: {lane.get('failed_reason', '')}".strip()]
    if lane.get("failed_step"):
        reasons.append(f"failed at {lane['failed_step']}: {lane.get('failed_reason', '')}".strip())
    if lane.get("synthetic"):
        reasons.append("synthetic weights: speed only, reliability not measured")
    doctor = lane.get("doctor_verdict")
    if cfg.require_doctor_pass and doctor not in ("pass", "warn"):
        failing = ", ".join(lane.get("doctor_failures") or []) or "not run"
        reasons.append(f"doctor {doctor or 'not run'} ({failing})")
    fer = _num(lane.get("format_error_rate"))
    crr = _num(lane.get("clean_run_rate"))
    if not lane.get("synthetic"):
        if fer is None:
            reasons.append("format-error rate not measured")
        elif fer > cfg.max_format_error_rate:
            counts = (lane.get("eval") or {}).get("error_counts") or {}
            what = ", ".join(f"{cls} ×{n}" for cls, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n)
            reasons.append(f"format-error rate {fer:.0%} > {cfg.max_format_error_rate:.0%}" + (f" ({what})" if what else ""))
        if crr is None:
            reasons.append("clean-run rate not measured")
        elif crr < cfg.min_clean_run_rate:
            unclean = lane.get("unclean_runs") or []
            what = ", ".join(f"{r['task']}: {r['why']}" for r in unclean[:4]) + (" …" if len(unclean) > 4 else "")
            reasons.append(f"clean-run rate {crr:.0%} < {cfg.min_clean_run_rate:.0%}" + (f" ({what})" if what else ""))
    if _num(lane.get("decode_tok_s")) is None:
        reasons.append("no single-stream speed measured")
    return (not reasons), reasons


def rank(lanes: list[dict[str, Any]], cfg: RankingCfg) -> list[dict[str, Any]]:
    """Annotate each lane with eligible/reasons/rank/recommended; return eligible-first order."""
    for lane in lanes:
        lane["eligible"], lane["ineligible_reasons"] = eligibility(lane, cfg)
    eligible = sorted((x for x in lanes if x["eligible"]),
                      key=lambda x: (-(_num(x.get("decode_tok_s")) or 0.0), x.get("total_bytes") or 0))
    others = [x for x in lanes if not x["eligible"]]
    for i, lane in enumerate(eligible, 1):
        lane["rank"] = i
        lane["recommended"] = i == 1
    for lane in others:
        lane["rank"] = None
        lane["recommended"] = False
    return eligible + others


def verdict_line(ranked: list[dict[str, Any]]) -> str:
    """One plain sentence: the recommended lane, or that none is eligible and why."""
    best = next((x for x in ranked if x.get("recommended")), None)
    if ranked and all(x.get("failed_step") not in (None, "down") for x in ranked):
        why = "; ".join(f"{x['name']} at {x['failed_step']}: {x.get('failed_reason') or '?'}" for x in ranked[:3])
        more = f" (+{len(ranked) - 3} more)" if len(ranked) > 3 else ""
        return f"No lane could be measured: every lane failed before its measurements finished — {why}{more}."
    if best is None:
        return ("No lane is eligible: every lane failed a gate (reasons listed per lane); "
                "nothing is recommended.")
    return (f"Recommended: {best['name']} — {best.get('decode_tok_s', 0):.1f} tok/s single-stream, "
            f"format-error rate {best.get('format_error_rate', 0):.0%}, clean-run rate {best.get('clean_run_rate', 0):.0%}.")
