"""The replay's summary (`load.replay`): per-request rows in, the documented summary out — seconds
per agent turn and per session with intervals stratified by request, TTFT, decode, prefill over
the tokens really evaluated, prefix reuse, how far each gap landed from the recorded one, and the
per-turn rows behind a plot.
"""

from __future__ import annotations

from typing import Any

from lanekit.load.stats import finite_or_none, median, percentile
from lanekit.results.stats import Interval, bootstrap, stratified_mean


def _iv(iv: Interval, nd: int = 3) -> dict[str, Any]:
    return {
        "point": finite_or_none(iv.point, nd),
        "low": finite_or_none(iv.low, nd),
        "high": finite_or_none(iv.high, nd),
        "n": iv.n,
        "method": iv.method,
    }


def _strata(rows: list[dict], key: str, by: tuple[str, ...] = ("session", "turn")) -> list[list[float]]:
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        if r["_ok"] and r[key] is not None:
            groups.setdefault(tuple(r[b] for b in by), []).append(r[key])
    return [groups[k] for k in sorted(groups)]


def summarize_replay(
    rows: list[dict],
    threaders: list[Any],
    *,
    extends: tuple[int, int],
    mode: str,
    repeats: int,
    pin: bool,
    n_sessions: int,
) -> dict[str, Any]:
    """The replay summary (documented on `load.result.ScenarioResult`)."""
    ok = [r for r in rows if r["_ok"]]
    errors = [r for r in rows if not r["_ok"]]
    per_session: dict[tuple[int, int], dict[str, float]] = {}
    for r in rows:
        cell = per_session.setdefault((r["repeat"], r["session"]), {"lane_s": 0.0, "gaps_s": 0.0, "ok": 1.0})
        cell["lane_s"] += r["_e2e_s"]
        cell["gaps_s"] += (r["actual_delay_ms"] or 0.0) / 1000
        cell["ok"] = min(cell["ok"], 1.0 if r["_ok"] else 0.0)
    session_strata: dict[int, list[float]] = {}
    for (_, s), cell in sorted(per_session.items()):
        if cell["ok"]:
            session_strata.setdefault(s, []).append(cell["lane_s"])
    later = [r for r in ok if r["turn"] > 0]
    isl = sum(r["_isl"] or 0 for r in ok if r["_cached"] is not None)
    cached = sum(r["_cached"] or 0 for r in ok if r["_cached"] is not None)
    isl_later = sum(r["_isl"] or 0 for r in later if r["_cached"] is not None)
    cached_later = sum(r["_cached"] or 0 for r in later if r["_cached"] is not None)
    lags = [abs(r["schedule_lag_ms"]) for r in rows if r["schedule_lag_ms"] is not None]
    turn_iv = stratified_mean(_strata(rows, "_e2e_s"))
    warnings = []
    if errors:
        warnings.append(f"{len(errors)} request(s) failed: {errors[0]['_error']}")
    if ok and not any(r["_cached"] is not None for r in ok):
        warnings.append(
            "the server reported no cached-token counts: prefix reuse unknown, prefill rate over "
            "the whole prompt"
        )
    short = sum(r["_short"] for r in rows)
    if short:
        warnings.append(
            f"{short} reply(ies) stopped before the pinned recorded length (the engine ignored "
            "ignore_eos): those turns did less work"
        )
    if repeats < 3:
        warnings.append(f"{repeats} pass(es): intervals need at least 3 repeats of each request")
    thr = {
        "padded_calls": sum(t.padded_calls for t in threaders),
        "dropped_calls": sum(t.dropped_calls for t in threaders),
        "resynced": sum(t.resynced for t in threaders),
        "recorded_replies": sum(t.recorded_replies for t in threaders),
    }
    return {
        "mode": mode,
        "repeats": repeats,
        "pin_output": pin,
        "sessions": n_sessions,
        "requests": len(rows),
        "samples": len(ok),
        "errors": len(errors),
        "first_error": errors[0]["_error"] if errors else None,
        "turn_s": _iv(turn_iv),
        "session_s": _iv(stratified_mean(list(session_strata.values()))),
        "session_wall_s": finite_or_none(
            median(c["lane_s"] + c["gaps_s"] for c in per_session.values() if c["ok"]), 3
        ),
        "ttft_ms": _iv(stratified_mean(_strata(rows, "_ttft_ms")), 2),
        "decode_tok_s": _iv(bootstrap([r["_decode"] for r in ok]), 2),
        "evaluated_prefill_tok_s": finite_or_none(median(r["evaluated_prefill_tok_s"] for r in ok), 2),
        "server_prefill_tok_s": finite_or_none(median(r["_server_pp"] for r in ok), 2),
        "prompt_tokens": sum(r["_isl"] or 0 for r in ok),
        "cached_tokens": cached,
        "evaluated_tokens": sum(r["_evaluated"] or 0 for r in ok),
        "output_tokens": sum(r["_osl"] or 0 for r in ok),
        "prefix_reuse": round(cached / isl, 4) if isl else None,
        "prefix_reuse_after_first": round(cached_later / isl_later, 4) if isl_later else None,
        "trace_extends": {"requests": extends[1], "extend_previous": extends[0]},
        "schedule_lag_ms": {
            "p50": finite_or_none(median(lags), 3),
            "p90": finite_or_none(percentile(lags, 90), 3),
            "max": finite_or_none(max(lags), 3) if lags else None,
            "n": len(lags),
        },
        "threading": thr if mode == "delta" else None,
        "finish_reasons": _counts(r["_finish"] for r in ok),
        "per_turn": _per_turn(rows),
        "warnings": warnings,
    }


def _counts(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def _per_turn(rows: list[dict]) -> list[dict[str, Any]]:
    """One row per request position (medians over repeats): the data behind a per-turn plot."""
    cells: dict[tuple[int, int], list[dict]] = {}
    for r in rows:
        if r["_ok"]:
            cells.setdefault((r["session"], r["turn"]), []).append(r)
    out = []
    for (s, k), rs in sorted(cells.items()):
        out.append(
            {
                "session": s,
                "turn": k,
                "n": len(rs),
                "isl": finite_or_none(median(x["_isl"] for x in rs), 1),
                "cached": finite_or_none(median(x["_cached"] for x in rs), 1),
                "ttft_ms": finite_or_none(median(x["_ttft_ms"] for x in rs), 2),
                "e2e_s": finite_or_none(median(x["_e2e_s"] for x in rs), 3),
                "osl": finite_or_none(median(x["_osl"] for x in rs), 1),
            }
        )
    return out


__all__ = ["summarize_replay"]
