"""The profile's tables show the headline per-turn latency with its interval, the replay's prefix
reuse and sample sizes beside every number; the renderer decides nothing."""

from __future__ import annotations

from lanekit.report.render.markdown import diagnostics_table, lane_table, render_readme
from lanekit.results.models import BakeoffReport, DoctorOutcome, EvalOutcome, LaneResult, Sizing
from lanekit.results.ranking import RankingCfg, rank
from lanekit.results.stats import bootstrap, wilson


def _lane(name, turn, total):
    lane = LaneResult(
        name=name,
        engine="llamacpp",
        model="m",
        ctx=65536,
        parallel=1,
        spec={},
        sizing=Sizing(total_bytes=total, quant="Q4_K_M"),
        doctor=DoctorOutcome(verdict="pass"),
        eval=EvalOutcome(
            agent="builtin",
            n_runs=8,
            summary={"format_error_rate": 0.0, "clean_run_rate": 1.0, "task_success_rate": 0.75},
        ),
    )
    lane.eval.intervals = {
        "format_error_rate": wilson(0, 14),
        "clean_run_rate": wilson(8, 8),
        "task_success_rate": wilson(6, 8),
    }
    lane.bench.replay = {
        "turn_s": turn,
        "ttft_ms": {"point": 210.0, "low": 200.0, "high": 221.0, "n": 60},
        "prefix_reuse_after_first": 0.87,
        "cached_tokens": 26100,
        "prompt_tokens": 30000,
        "sessions": 8,
        "requests": 60,
        "pin_output": True,
    }
    lane.bench.single = {"decode_tok_s": 18.2, "ttft_ms": 60.0}
    lane.bench.intervals = {"decode_tok_s": bootstrap([18.0, 18.2, 18.5])}
    lane.bench.context = {
        "depths": [{"depth": 4096, "ttft_ms": 5210.0, "ttft_ms_warm": 140.0, "decode_tok_s": 16.4}]
    }
    return lane


def _report():
    lanes = [
        _lane("a", {"point": 1.84, "low": 1.70, "high": 1.99, "n": 60}, 2),
        _lane("b", {"point": 1.90, "low": 1.80, "high": 2.05, "n": 60}, 1),
    ]
    return BakeoffReport(
        run_id="r1",
        lanes=lanes,
        ranking=rank(lanes, RankingCfg()),
        plan={"bench": {"replay": {"trace": "embedded:core", "repeats": 3, "mode": "history"}}},
    )


def test_the_ranking_table_leads_with_seconds_per_turn_and_its_interval():
    table = lane_table(_report())
    head, _, first, second = table.splitlines()
    assert "s/turn (95% CI)" in head and "prefix reuse" in head
    assert first.startswith(
        "| a | 1 ≈ | 1.84 [1.70–1.99] n=60 | 210 [200–221] n=60 | 87% (26,100/30,000 tok)"
    )
    # within noise of a: same rank, and recommended for needing less memory
    assert second.startswith("| b | 1 ≈ | 1.90 [1.80–2.05] n=60") and second.endswith("⭐ |")
    assert "0% [0%–22%] n=14" in first and "75% [41%–93%] n=8" in first and first.endswith(" |  |")


def test_diagnostics_and_readme_state_sample_sizes_and_noise():
    report = _report()
    diag = diagnostics_table(report)
    assert "18.2 [18.0–18.5] n=3" in diag and "4K: 5,210 / 140 ms, 16.4 tok/s" in diag
    readme = render_readme(report, [])
    assert "Within noise (intervals overlap, not ordered): a, b." in readme
    assert "replays `embedded:core` (8 sessions, 20 requests) 3 times in history mode" in readme
