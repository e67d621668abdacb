"""Runs side by side: what changed, and a difference called only when the bounds say so."""

from __future__ import annotations

from sample_run import lane_result

from lanekit.report.compare import cell_text, compare_reports, delta_text, judge
from lanekit.report.values import Value
from lanekit.results.models import BakeoffReport
from lanekit.results.ranking import RankingCfg, rank


def _report(run_id, lanes, hardware=None, plan_name="p", digest="d1"):
    return BakeoffReport(run_id=run_id, plan_name=plan_name, plan_digest=digest, lanes=lanes,
                         ranking=rank(lanes, RankingCfg()), hardware=hardware or {"cpu": "x86_64", "cores": 2})


def test_a_difference_needs_bounds_that_do_not_overlap():
    assert judge(Value(10, 9, 11), Value(14, 13, 15), larger_is_better=True) == "better"
    assert judge(Value(10, 9, 11), Value(14, 13, 15), larger_is_better=False) == "worse"
    assert judge(Value(10, 9, 11), Value(10.5, 9.5, 11.5), larger_is_better=True) == "within noise"
    assert judge(Value(10), Value(20), larger_is_better=True) == "no interval"
    assert judge(Value(None), Value(20), larger_is_better=True) == "not measured"


def test_same_lanes_across_runs_with_what_changed_and_the_deltas():
    a = _report("A", [lane_result("qwen-fixed", 30.0), lane_result("qwen-q8", 29.5)])
    b = _report("B", [lane_result("qwen-fixed", 30.0, scale=1.2, engine_version="version: 2 (def)",
                                  extra_args=["--flash-attn", "on"]),
                      lane_result("qwen-q8", 29.5, scale=1.01), lane_result("smollm2", 180.0, eligible=False)],
                hardware={"cpu": "x86_64", "cores": 4}, digest="d2")
    comp = compare_reports([a, b])
    assert [r.run_id for r in comp.runs] == ["A", "B"]
    assert comp.hardware_changes == ["cores: 2 → 4 (run B)"]
    assert any("plan changed" in n for n in comp.notes)
    lanes = {x.lane: x for x in comp.lanes}
    fixed = lanes["qwen-fixed"]
    assert "engine version: version: 1 (abc) → version: 2 (def)" in fixed.changes
    assert "flags: added --flash-attn on" in fixed.changes
    assert "extra_args" not in " ".join(fixed.changes)  # flags are said once, as flags
    decode = next(m for m in fixed.metrics if m.metric == "decode tok/s")
    assert decode.verdict == "better" and abs(decode.delta_pct - 20.0) < 1e-6
    assert delta_text(decode) == "+20.0 % (better)"
    assert decode.cells[0].bounds == "interval" and not any("spreads" in n for n in comp.notes)
    # without confidence intervals a change is called on p10-p90 spreads: a note says what they miss
    for x in (*a.lanes, *b.lanes):
        x.bench.intervals = {}
    spread = compare_reports([a, b])
    spread_note = next(n for n in spread.notes if n.startswith("judged on p10–p90 spreads"))
    assert "qwen-fixed decode tok/s" in spread_note and "qwen-q8" not in spread_note
    q8 = next(m for m in lanes["qwen-q8"].metrics if m.metric == "decode tok/s")
    assert q8.verdict == "within noise"  # 1 % apart, spreads of ±3 % overlap
    fer = next(m for m in fixed.metrics if m.metric == "format-error rate")
    assert fer.verdict == "no interval" and delta_text(fer) == "+0 pts (no interval)"
    smol = lanes["smollm2"]
    assert smol.status[0] == "absent" and smol.status[1].startswith("✗ doctor fail")
    assert cell_text(next(m for m in smol.metrics if m.metric == "decode tok/s").cells[0], "tok/s") == "absent"
    assert fixed.status == ["rank 1 ★", "rank 1 ★"]


def test_runs_of_different_plans_are_matched_by_name_and_said_so():
    comp = compare_reports([_report("A", [lane_result("qwen-q8", 29.5)], plan_name="p1"),
                            _report("B", [lane_result("qwen-q8", 29.5)], plan_name="p2")])
    assert any("different plans" in n for n in comp.notes)
    assert not any("spreads" in n for n in comp.notes)  # nothing was called better or worse
    assert comp.lanes[0].changes == []
