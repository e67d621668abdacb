"""The battery through the built-in loop on Qwen2.5-Coder-1.5B (slow: minutes per lane on 2 cores).

With its stock chat template the model writes each call as a fenced JSON block in the text, so
the scorer must see "call written into content" and no structured call. With lanekit's fixed
template (`qwen2.5-coder-tools`) llama-server returns structured `tool_calls`; measured, the model
then repeats its call until the turn limit instead of answering (8/8 runs), which the scorer
reports as turn-limited loops with a 0% format-error rate and a 0% clean-run rate.
"""

from __future__ import annotations

import pytest

from lanekit.agents import load_battery, run_battery, score_runs
from lanekit.lanes import serve_lane
from lanekit.lanes.spec import parse_lane

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def _qwen_lane(name: str, **fields):
    return parse_lane({"name": name, "engine": "llamacpp", "model": "qwen2.5-coder-1.5b", "ctx": 8192,
                       "parallel": 1, "threads": 2, "max_output_tokens": 512, **fields})


def test_stock_template_calls_are_classified_as_written_into_content(llama_server, qwen_path):
    battery = load_battery()
    with serve_lane(_qwen_lane("it-agents-qwen-stock")) as lane:
        runs = run_battery(lane.base_url, lane.model_id, battery, task_timeout_s=600)
    score = score_runs(runs, battery)
    s = score.summary
    _report("qwen stock template", s)
    assert s["tool_calls"] == 0
    assert s["error_counts"]["call_in_content"] >= len(battery.tasks) // 2
    assert s["clean_run_rate"] == 0.0 and s["format_error_rate"] == 1.0


def test_fixed_template_gives_structured_tool_calls(llama_server, qwen_path):
    battery = load_battery()
    with serve_lane(_qwen_lane("it-agents-qwen-tools", chat_template_file="qwen2.5-coder-tools")) as lane:
        runs = run_battery(lane.base_url, lane.model_id, battery, task_timeout_s=600)
    score = score_runs(runs, battery)
    s = score.summary
    _report("qwen fixed template", s)
    assert s["tool_calls"] >= len(battery.tasks) // 2
    assert s["error_counts"]["call_in_content"] < s["tool_calls"]
    # measured on 2 cores: well-formed calls (0% format errors) but the 1.5B model repeats its
    # last call instead of answering; such runs must show up as turn-limited loops, not as clean
    for r in score.runs:
        assert r.clean == (r.finished and not r.errors)
        if r.stop_reason == "max_turns":
            assert r.outcome == "timeout" and not r.finished
    assert s["format_error_rate"] < 0.5


def _report(label: str, summary: dict) -> None:
    """Print the measured rates (run with -s to see them)."""
    keys = ("n_runs", "format_error_rate", "clean_run_rate", "finished_rate", "task_success_rate",
            "tool_calls_per_run", "turn_limited_runs", "looping_runs", "error_counts", "outcomes", "verdict",
            "mean_run_s")
    print(f"\n[{label}]", {k: summary.get(k) for k in keys})
