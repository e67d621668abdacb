"""The ranking rule: a pure function of typed lane results."""

from __future__ import annotations

import math

from lanekit.results.models import DoctorOutcome, EvalOutcome, Failure, LaneResult, Sizing, UncleanRun
from lanekit.results.ranking import RankingCfg, rank, reasons_against


def _lane(name, tok, fer=0.0, crr=1.0, doctor="pass", total=1, synthetic=False, error_counts=None,
          unclean=(), failures=(), failure=None):
    eval_ = None if fer is None and crr is None else EvalOutcome(
        agent="builtin", n_runs=8, summary={"format_error_rate": fer, "clean_run_rate": crr,
                                            "error_counts": error_counts or {}},
        unclean_runs=[UncleanRun(task=t, why=w) for t, w in unclean])
    lane = LaneResult(name=name, engine="llamacpp", model="m", ctx=4096, parallel=1, spec={}, synthetic=synthetic,
                      sizing=Sizing(total_bytes=total), doctor=DoctorOutcome(verdict=doctor, failures=list(failures)),
                      eval=eval_, failure=failure)
    lane.bench.single = {"decode_tok_s": tok}
    return lane


def test_reliability_disqualifies_and_speed_orders():
    lanes = [_lane("fast-but-sloppy", 100, fer=0.1, crr=0.8), _lane("slow", 10), _lane("mid", 50),
             _lane("mid-smaller", 50, total=0), _lane("doctor-fail", 200, doctor="fail", failures=["tools"])]
    ranking = rank(lanes, RankingCfg())
    assert [v.name for v in ranking.verdicts if v.eligible] == ["mid-smaller", "mid", "slow"]
    assert ranking.verdicts[0].recommended and not any(v.recommended for v in ranking.verdicts[1:])
    assert ranking.recommended == "mid-smaller" and ranking.measured_lanes == 5
    sloppy = ranking.of("fast-but-sloppy")
    assert any("format-error" in r for r in sloppy.reasons)
    assert any("doctor fail (tools)" in r for r in ranking.of("doctor-fail").reasons)
    assert "Recommended: mid-smaller" in ranking.verdict


def test_nan_rates_and_synthetic_lanes_are_never_eligible():
    reasons = reasons_against(_lane("nan", 10, fer=math.nan, crr=math.nan), RankingCfg())
    assert reasons and any("not measured" in r for r in reasons)
    reasons = reasons_against(_lane("synth", 300, fer=None, crr=None, synthetic=True), RankingCfg())
    assert reasons and any("synthetic" in r for r in reasons)


def test_no_eligible_lane_is_said_plainly():
    ranking = rank([_lane("a", 10, fer=0.5)], RankingCfg())
    assert "No lane is eligible" in ranking.verdict and not ranking.nothing_measured


def test_no_lane_measured_is_not_the_same_as_none_eligible():
    dead = _lane("a", None, failure=Failure(step="up", reason="llama-server died with SIGILL (illegal instruction)"))
    ranking = rank([dead], RankingCfg())
    assert ranking.nothing_measured
    assert ranking.verdict.startswith("No lane could be measured") and "SIGILL" in ranking.verdict
    assert ranking.of("a").reasons == ["failed at up: llama-server died with SIGILL (illegal instruction)"]


def test_thresholds_are_configurable():
    cfg = RankingCfg(max_format_error_rate=0.2, min_clean_run_rate=0.5)
    assert not reasons_against(_lane("a", 10, fer=0.1, crr=0.8), cfg)


def test_reasons_say_which_errors_and_which_runs():
    lane = _lane("qwen", 17.4, fer=0.61, crr=0.875,
                 error_counts={"truncated": 20, "unknown_tool": 0, "call_in_content": 1},
                 unclean=[("find_then_read", "truncated ×20")])
    reasons = reasons_against(lane, RankingCfg())
    assert reasons[0] == "format-error rate 61% > 0% (call_in_content ×1)"  # truncated is not a format error
    assert reasons[1] == "clean-run rate 88% < 100% (find_then_read: truncated ×20)"


def test_results_round_trip_through_json():
    lane = _lane("a", 12.5)
    again = LaneResult.model_validate_json(lane.model_dump_json())
    assert again == lane and again.decode_tok_s == 12.5 and again.schema_version == 1
