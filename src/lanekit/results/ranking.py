"""Ranking: reliability disqualifies, speed on the agent's own workload orders, noise is said —
a pure function of `LaneResult`s.

A lane is eligible only with a doctor pass, format-error rate ≤ the threshold and clean-run
rate ≥ the threshold (synthetic lanes never are: they have no reliability). A response cut off
at the output cap (`truncated`) is not a format error: it makes the run unclean, and the reason
names the cap, so a reasoning model is judged on its budget, not on its formatting.

Eligible lanes are ordered by their headline speed: seconds per agent turn on the replayed
trace (lower first), or, for lanes without a replay, single-stream decode tok/s (higher first).
Lanes whose headline intervals overlap are within noise: they share a rank and are not ordered
against each other; the recommendation among them is the one that needs the least memory.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from lanekit.results.models import LaneResult, LaneVerdict, Ranking
from lanekit.results.stats import Interval, noise_groups

EARLY_STEPS = ("fit", "guard", "up")
NOT_FORMAT = ("truncated",)  # error classes that make a run unclean without being a format error


class RankingCfg(BaseModel):
    """The plan's `ranking:` thresholds."""

    model_config = ConfigDict(extra="forbid")

    require_doctor_pass: bool = True
    max_format_error_rate: float = Field(0.0, ge=0, le=1)
    min_clean_run_rate: float = Field(1.0, ge=0, le=1)


def headline(lane: LaneResult) -> tuple[str, Interval] | None:
    """(unit, interval) of the speed that orders the lane: s/turn on the replay, else tok/s."""
    if lane.turn_s is not None:
        return "s/turn", lane.turn_s
    iv = lane.bench.intervals.get("decode_tok_s")
    if iv is not None and iv.point is not None:
        return "tok/s", iv
    if lane.decode_tok_s is not None:
        return "tok/s", Interval(point=lane.decode_tok_s, n=int((lane.bench.single or {}).get("samples") or 0))
    return None


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
    replay = lane.bench.replay or {}
    if replay.get("errors"):
        # a lane that fails some of the agent's requests would look fast on the ones it served
        reasons.append(f"replay: {replay['errors']} of {replay.get('requests')} agent requests failed "
                       f"({str(replay.get('first_error') or '')[:120]})")
    if headline(lane) is None:
        reasons.append("no speed measured (no replay, no single-stream decode)")
    return reasons


def _ci(lane: LaneResult, key: str) -> str:
    iv = lane.eval.intervals.get(key) if lane.eval else None
    if iv is None or not iv.bounded:
        return ""
    return f" [{iv.low:.0%}–{iv.high:.0%}] n={iv.n}"


def _reliability(lane: LaneResult, cfg: RankingCfg) -> list[str]:
    out = []
    fer, crr = lane.rate("format_error_rate"), lane.rate("clean_run_rate")
    counts = lane.eval.error_counts if lane.eval else {}
    if fer is None:
        out.append("format-error rate not measured")
    elif fer > cfg.max_format_error_rate:
        what = ", ".join(f"{cls} ×{n}" for cls, n in sorted(counts.items(), key=lambda kv: -kv[1])
                         if n and cls not in NOT_FORMAT)
        out.append(f"format-error rate {fer:.0%}{_ci(lane, 'format_error_rate')} > {cfg.max_format_error_rate:.0%}"
                   + (f" ({what})" if what else ""))
    if crr is None:
        out.append("clean-run rate not measured")
    elif crr < cfg.min_clean_run_rate:
        unclean = lane.eval.unclean_runs if lane.eval else []
        what = ", ".join(f"{r.task}: {r.why}" for r in unclean[:4]) + (" …" if len(unclean) > 4 else "")
        out.append(f"clean-run rate {crr:.0%}{_ci(lane, 'clean_run_rate')} < {cfg.min_clean_run_rate:.0%}"
                   + (f" ({what})" if what else ""))
        # a cut-off reply makes its run unclean (that is the gate above), and the reader should know
        # it was the budget, not the format; it is no gate of its own
        truncated = int((lane.eval.summary.get("truncated_runs") or 0) if lane.eval else 0)
        if truncated:
            cap = lane.eval.summary.get("truncation_cap_tokens")
            out.append(f"{truncated} run(s) cut off at the {cap or '?'}-token output cap: the budget, not the "
                       "format — raise eval.max_tokens (and the lane's max_output_tokens) for this model")
    return out


def _order(eligible: list[LaneResult]) -> list[tuple[LaneResult, str, Interval]]:
    """Lanes with a replay first (fewest seconds per turn), then the rest (most tok/s)."""
    rows = [(lane, *headline(lane)) for lane in eligible]  # type: ignore[misc]
    per_turn = sorted((r for r in rows if r[1] == "s/turn"), key=lambda r: (r[2].point, r[0].sizing.total_bytes or 0))
    per_tok = sorted((r for r in rows if r[1] == "tok/s"), key=lambda r: (-r[2].point, r[0].sizing.total_bytes or 0))
    return per_turn + per_tok


def rank(lanes: list[LaneResult], cfg: RankingCfg) -> Ranking:
    """Verdict per lane (eligible first, in rank order; lanes within noise share a rank) and the
    one-sentence conclusion."""
    judged = [(lane, reasons_against(lane, cfg)) for lane in lanes]
    ordered = _order([lane for lane, why in judged if not why])
    groups: list[int] = []
    offset = 0
    for unit in ("s/turn", "tok/s"):  # intervals of different units are never compared
        part = [iv for _, u, iv in ordered if u == unit]
        groups += [g + offset for g in noise_groups(part)]
        offset = (max(groups) + 1) if groups else 0
    members: dict[int, list[LaneResult]] = {}
    for (lane, _, _), g in zip(ordered, groups):
        members.setdefault(g, []).append(lane)
    best = min(members.get(0, []), key=lambda x: (x.sizing.total_bytes or 0), default=None)
    verdicts = []
    for (lane, unit, _), g in zip(ordered, groups):
        verdicts.append(LaneVerdict(name=lane.name, eligible=True, rank=sorted(members).index(g) + 1,
                                    recommended=best is not None and lane.name == best.name, noise_group=g,
                                    within_noise_of=[x.name for x in members[g] if x.name != lane.name],
                                    headline=unit))
    verdicts += [LaneVerdict(name=lane.name, eligible=False, reasons=why) for lane, why in judged if why]
    measured = sum(1 for lane in lanes if lane.measured)
    ties = [x.name for x in members.get(0, []) if best is not None and x.name != best.name]
    return Ranking(verdicts=verdicts, verdict=verdict_line(lanes, best, measured, ties), measured_lanes=measured,
                   recommended=best.name if best else None)


def _speed_text(lane: LaneResult) -> str:
    found = headline(lane)
    if found is None:
        return "speed not measured"
    unit, iv = found
    if unit == "s/turn":
        text = f"{iv.render('{:.2f}')} s per agent turn on the replayed trace"
        if lane.decode_tok_s is not None:
            text += f", {lane.decode_tok_s:.1f} tok/s decode"
        return text
    return f"{iv.render('{:.1f}')} tok/s single-stream"


def verdict_line(lanes: list[LaneResult], best: LaneResult | None, measured: int, ties: list[str] | None = None) -> str:
    """One plain sentence: the recommended lane, that none is eligible, or that none was measured."""
    if lanes and measured == 0:
        why = "; ".join(f"{x.name} at {x.failure.step}: {x.failure.reason}" for x in lanes[:3] if x.failure)
        more = f" (+{len(lanes) - 3} more)" if len(lanes) > 3 else ""
        return f"No lane could be measured: every lane failed before its measurements finished — {why}{more}."
    if best is None:
        return ("No lane is eligible: every lane failed a gate (reasons listed per lane); "
                "nothing is recommended.")
    noise = (f" Within noise of {', '.join(ties)} (their intervals overlap): chosen for needing the least memory."
             if ties else "")
    n_runs = best.eval.n_runs if best.eval else 0
    return (f"Recommended: {best.name} — {_speed_text(best)}, "
            f"format-error rate {best.rate('format_error_rate') or 0:.0%}, "
            f"clean-run rate {best.rate('clean_run_rate') or 0:.0%} of {n_runs} runs.{noise}")
