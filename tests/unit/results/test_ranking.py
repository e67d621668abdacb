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


def _replayed(name, point, low, high, total=1, n=30):
    lane = _lane(name, 10.0, total=total)
    lane.bench.replay = {"turn_s": {"point": point, "low": low, "high": high, "n": n, "method": "stratified-bootstrap-mean"},
                         "prefix_reuse_after_first": 0.9}
    return lane


def test_seconds_per_agent_turn_orders_and_overlapping_lanes_are_within_noise():
    lanes = [_replayed("slow", 3.0, 2.8, 3.2), _replayed("a", 1.00, 0.95, 1.05, total=200),
             _replayed("b", 1.02, 0.97, 1.08, total=100), _lane("no-replay", 500.0)]
    ranking = rank(lanes, RankingCfg())
    order = [v.name for v in ranking.verdicts if v.eligible]
    # replayed lanes first (fewest seconds per turn), the lane without a replay after them
    assert order == ["a", "b", "slow", "no-replay"]
    a, b, slow = ranking.of("a"), ranking.of("b"), ranking.of("slow")
    # a and b overlap: same rank, said to be within noise, not ordered
    assert a.rank == b.rank == 1 and a.within_noise_of == ["b"] and b.within_noise_of == ["a"]
    assert slow.rank == 2 and not slow.within_noise_of and a.headline == "s/turn"
    # among lanes within noise the one needing less memory is recommended, and the verdict says why
    assert ranking.recommended == "b" and b.recommended and not a.recommended
    assert "Within noise of a" in ranking.verdict and "s per agent turn" in ranking.verdict
    assert "n=30" in ranking.verdict


def test_lanes_apart_beyond_their_intervals_are_ordered():
    ranking = rank([_replayed("x", 1.5, 1.45, 1.55), _replayed("y", 1.0, 0.98, 1.02, total=999)], RankingCfg())
    assert ranking.recommended == "y" and ranking.of("x").rank == 2 and not ranking.of("y").within_noise_of


def test_truncation_is_named_as_the_budget_not_the_format():
    lane = _lane("reasoner", 30.0, fer=0.0, crr=0.75, unclean=[("count_lines", "truncated at the 512-token cap")])
    lane.eval.summary.update(truncated_runs=2, truncation_cap_tokens=512, error_counts={"truncated": 2})
    reasons = reasons_against(lane, RankingCfg())
    assert not any(r.startswith("format-error") for r in reasons)
    assert any("cut off at the 512-token output cap: the budget, not the format" in r for r in reasons)
    assert any("count_lines: truncated at the 512-token cap" in r for r in reasons)
    # thresholds a plan opened wide: the cut-off runs are no gate of their own
    opened = RankingCfg(require_doctor_pass=False, max_format_error_rate=1.0, min_clean_run_rate=0.0)
    assert reasons_against(lane, opened) == []
    assert rank([lane], opened).recommended == "reasoner"


def test_rate_reasons_carry_their_wilson_interval():
    from lanekit.results.stats import wilson

    lane = _lane("q", 10.0, fer=0.25, crr=1.0)
    lane.eval.intervals = {"format_error_rate": wilson(2, 8)}
    assert reasons_against(lane, RankingCfg())[0] == "format-error rate 25% [7%–59%] n=8 > 0%"


def test_a_lane_that_failed_some_of_the_agents_requests_is_not_ranked_on_the_rest():
    lane = _replayed("short-ctx", 0.5, 0.45, 0.55)
    lane.bench.replay.update(errors=3, requests=60, first_error="HTTP 400: the request exceeds the context size")
    reasons = reasons_against(lane, RankingCfg())
    assert reasons == ["replay: 3 of 60 agent requests failed (HTTP 400: the request exceeds the context size)"]
