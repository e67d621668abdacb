"""The battery through the built-in loop on the real llama-server with SmolLM2-135M.

SmolLM2's chat template has no tool support, so llama-server drops `tools` and the model just
talks: the scorer must call that a failing lane (no call where one was required), not a clean one.
"""

from __future__ import annotations

import pytest

from lanekit.agents import load_battery, run_battery, score_runs
from lanekit.lanes import LaneSpec, serve_lane


@pytest.mark.timeout(1500)
def test_smollm2_battery_is_scored_as_failing_to_call_tools(llama_server, smollm2_path):
    battery = load_battery()
    spec = LaneSpec(name="it-agents-smol", engine="llamacpp", model="smollm2-135m", ctx=4096, threads=2)
    with serve_lane(spec) as lane:
        runs = run_battery(lane.base_url, lane.model_id, battery, max_tokens=64, task_timeout_s=150)
    assert len(runs) == len(battery.tasks)
    assert all(r.battery_sha256 == battery.sha256 for r in runs)
    assert all(r.error is None for r in runs), [r.error for r in runs]
    s = score_runs(runs, battery).summary
    _report("smollm2", s)
    assert s["tool_calls"] == 0
    assert s["clean_run_rate"] == 0.0
    assert s["task_success_rate"] == 0.0
    # every run that got a reply owes the call it never made; none may look clean or "0% errors"
    replied = [r for r in runs if r.turns]
    assert replied, "SmolLM2 never answered within the time limit"
    assert s["format_error_rate"] == 1.0
    assert s["error_counts"]["no_call"] + s["error_counts"]["no_output"] + s["error_counts"]["truncated"] >= len(replied)


def _report(label: str, summary: dict) -> None:
    """Print the measured rates (run with -s to see them)."""
    keys = ("n_runs", "format_error_rate", "clean_run_rate", "finished_rate", "task_success_rate",
            "tool_calls_per_run", "turn_limited_runs", "looping_runs", "error_counts", "outcomes", "verdict",
            "mean_run_s")
    print(f"\n[{label}]", {k: summary.get(k) for k in keys})
