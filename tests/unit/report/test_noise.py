"""A ranked run says when its order is within noise; it never reorders anything."""

from __future__ import annotations

from sample_run import lane_result, without_intervals

from lanekit.report.noise import noise_warnings
from lanekit.results.models import BakeoffReport
from lanekit.results.ranking import RankingCfg, rank


def _report(lanes):
    return BakeoffReport(run_id="r", lanes=lanes, ranking=rank(lanes, RankingCfg()))


def test_overlapping_leaders_are_called_within_noise():
    report = _report([lane_result("qwen-fixed", 30.0), lane_result("qwen-q8", 29.5)])
    order = [v.name for v in report.ranking.verdicts]
    warnings = noise_warnings(report)
    # the ranking may itself call them within noise (and share a rank), or order them: either way it is said
    assert any("qwen-fixed" in w and "qwen-q8" in w and "within noise" in w for w in warnings)
    assert [v.name for v in report.ranking.verdicts] == order


def test_clearly_separated_lanes_with_enough_samples_give_no_warning():
    report = _report([lane_result("qwen-fixed", 30.0), lane_result("qwen-q8", 20.0)])
    assert noise_warnings(report) == []


def test_too_few_samples_a_wide_spread_and_drift_are_named():
    few = without_intervals(lane_result("qwen-fixed", 30.0))
    few.bench.single = {"decode_tok_s": 30.0, "samples": 1}
    wide = without_intervals(lane_result("qwen-q8", 10.0))
    wide.bench.single.update(decode_tok_s_p10=6.0, decode_tok_s_p90=14.0)
    wide.bench.sustained["drift_pct"] = -25.0
    warnings = noise_warnings(_report([few, wide]))
    assert any("qwen-fixed: tok/s rests on 1 sample(s)" in w for w in warnings)
    assert any("qwen-q8: tok/s spread 6.00–14.00 is ±40 %" in w for w in warnings)
    assert any("drifted -25.0 %" in w for w in warnings)
