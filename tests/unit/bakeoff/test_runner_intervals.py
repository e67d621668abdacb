"""The battery's intervals as the bakeoff builds them from run scores."""

from __future__ import annotations

import pytest

from lanekit.agents.scoring import RunScore
from lanekit.bakeoff.runner import _why_unclean, eval_intervals


def _score(i, outcome="success", clean=True, attempts=2, failed=0, wall_s=10.0, **kw):
    return RunScore(
        id=f"r{i}",
        outcome=outcome,
        clean=clean,
        attempts=attempts,
        format_errors=failed,
        wall_ns=int(wall_s * 1e9),
        **kw,
    )


def test_rates_get_wilson_intervals_and_time_per_success_a_bootstrap():
    scores = [_score(i) for i in range(6)] + [
        _score(6, "grader_fail", clean=False, failed=1, wall_s=30.0),
        _score(7, "timeout", clean=False, attempts=0, wall_s=60.0),
    ]
    iv = eval_intervals(scores)
    assert iv["format_error_rate"].point == pytest.approx(1 / 14) and iv["format_error_rate"].n == 14
    assert iv["clean_run_rate"].point == 0.75 and iv["clean_run_rate"].n == 8
    assert iv["clean_run_rate"].low < 0.75 < iv["clean_run_rate"].high
    # 150 s of battery for 6 successes: the failures' time counts against the lane
    assert iv["s_per_success"].point == pytest.approx(150.0 / 6) and iv["s_per_success"].bounded
    none = eval_intervals([_score(0, "grader_fail", clean=False)])
    assert none["s_per_success"].point is None


def test_an_unclean_truncated_run_names_the_cap():
    from lanekit.agents.scoring import CallError

    s = _score(
        0,
        "grader_fail",
        clean=False,
        truncated=1,
        truncated_at=512,
        errors=[CallError(cls="truncated", detail="cut off")],
    )
    assert _why_unclean(s) == "truncated at the 512-token cap"
