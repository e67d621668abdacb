"""Bakeoff plan validation, grid expansion, and the ranking rule."""

from __future__ import annotations

import math

import pytest

from lanekit.bakeoff.plan import RankingCfg, default_plan, load_plan, parse_plan
from lanekit.bakeoff.ranking import eligibility, rank, verdict_line
from lanekit.errors import ConfigError


def test_default_plan_tells_the_story():
    plan = default_plan()
    names = [s.name for s in plan.lane_specs()]
    assert names == ["smollm2-135m", "qwen-coder-stock", "qwen-coder-fixed"]
    fixed = plan.lane_specs()[2]
    assert fixed.chat_template_file == "qwen2.5-coder-tools"
    assert fixed.ctx >= 65_536  # Hermes' floor, per request
    quick = plan.quick()
    assert quick.bench.single.samples < plan.bench.single.samples
    assert quick.digest() != plan.digest()


def test_grid_expands_and_names_lanes():
    plan = parse_plan({"grid": [{"base": {"name": "q", "model": "smollm2-135m"},
                                 "vary": {"kv_dtype": ["f16", "q8_0"], "parallel": [1, 2]}}]})
    names = sorted(s.name for s in plan.lane_specs())
    assert names == ["q-kv_dtypef16-parallel1", "q-kv_dtypef16-parallel2", "q-kv_dtypeq8_0-parallel1",
                     "q-kv_dtypeq8_0-parallel2"]


def test_plan_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"bench\.single\.samples"):
        parse_plan({"lanes": [{"name": "a", "model": "m"}], "bench": {"single": {"samples": 0}}})
    with pytest.raises(ConfigError, match=r"lanes\[0\]\.ctx"):
        parse_plan({"lanes": [{"name": "a", "model": "m", "ctx": 1}]})
    with pytest.raises(ConfigError, match="no lanes"):
        parse_plan({})
    with pytest.raises(ConfigError, match="not found"):
        load_plan(tmp_path / "missing.yaml")


def _lane(name, tok, fer=0.0, crr=1.0, doctor="pass", total=1, **kw):
    return {"name": name, "decode_tok_s": tok, "format_error_rate": fer, "clean_run_rate": crr,
            "doctor_verdict": doctor, "total_bytes": total, **kw}


def test_reliability_disqualifies_and_speed_orders():
    lanes = [_lane("fast-but-sloppy", 100, fer=0.1, crr=0.8), _lane("slow", 10), _lane("mid", 50),
             _lane("mid-smaller", 50, total=0), _lane("doctor-fail", 200, doctor="fail", doctor_failures=["tools"])]
    ranked = rank(lanes, RankingCfg())
    assert [x["name"] for x in ranked if x["eligible"]] == ["mid-smaller", "mid", "slow"]
    assert ranked[0]["recommended"] and not any(x["recommended"] for x in ranked[1:])
    sloppy = next(x for x in ranked if x["name"] == "fast-but-sloppy")
    assert any("format-error" in r for r in sloppy["ineligible_reasons"])
    assert "Recommended: mid-smaller" in verdict_line(ranked)


def test_nan_rates_and_synthetic_lanes_are_never_eligible():
    ok, reasons = eligibility(_lane("nan", 10, fer=math.nan, crr=math.nan), RankingCfg())
    assert not ok and any("not measured" in r for r in reasons)
    ok, reasons = eligibility(_lane("synth", 300, fer=None, crr=None, synthetic=True), RankingCfg())
    assert not ok and any("synthetic" in r for r in reasons)


def test_no_eligible_lane_is_said_plainly():
    ranked = rank([_lane("a", 10, fer=0.5)], RankingCfg())
    assert "No lane is eligible" in verdict_line(ranked)


def test_thresholds_are_configurable():
    cfg = RankingCfg(max_format_error_rate=0.2, min_clean_run_rate=0.5)
    assert eligibility(_lane("a", 10, fer=0.1, crr=0.8), cfg)[0]


def test_reasons_say_which_errors_and_which_runs():
    lane = _lane("qwen", 17.4, fer=0.61, crr=0.875,
                 eval={"error_counts": {"truncated": 20, "unknown_tool": 0, "call_in_content": 1}},
                 unclean_runs=[{"task": "find_then_read", "why": "truncated ×20"}])
    ok, reasons = eligibility(lane, RankingCfg())
    assert not ok
    assert reasons[0] == "format-error rate 61% > 0% (truncated ×20, call_in_content ×1)"
    assert reasons[1] == "clean-run rate 88% < 100% (find_then_read: truncated ×20)"
