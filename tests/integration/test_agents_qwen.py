"""The battery through the built-in loop on Qwen2.5-Coder-1.5B (slow: minutes per lane on 2 cores).

With its stock chat template the model writes each call as a fenced JSON block in the text, so
the scorer must see "call written into content" and no structured call. With lanekit's fixed
template (`qwen2.5-coder-tools`) llama-server returns structured `tool_calls`. The lanes serve the
model card's sampling, as a user's lane would (the loop, like Hermes, sends none).

Measured (8 tasks, one run each, max 6 turns): before the template told the model to answer
once a result suffices, it repeated its calls to the turn limit on 8/8 tasks under greedy
decoding; since then 1-2 of 8 greedy runs and 0-1 of 8 sampled runs loop. The greedy test keeps
that failure visible: a loop must be scored as a turn-limited timeout, never as clean.
"""

from __future__ import annotations

import pytest

from lanekit.agents import load_battery, run_battery, score_runs
from lanekit.lanes import serve_lane
from lanekit.lanes.spec import parse_lane

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


QWEN_SAMPLING = {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "repeat_penalty": 1.1}  # the model card's


def _qwen_lane(name: str, **fields):
    return parse_lane({"name": name, "engine": "llamacpp", "model": "qwen2.5-coder-1.5b", "ctx": 8192,
                       "parallel": 1, "threads": 2, "max_output_tokens": 512, "sampling": QWEN_SAMPLING, **fields})


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


def test_fixed_template_gives_structured_tool_calls_and_finished_runs(llama_server, qwen_path):
    battery = load_battery()
    with serve_lane(_qwen_lane("it-agents-qwen-tools", chat_template_file="qwen2.5-coder-tools")) as lane:
        runs = run_battery(lane.base_url, lane.model_id, battery, max_turns=6, task_timeout_s=600)
    score = score_runs(runs, battery)
    s = score.summary
    _report("qwen fixed template, model card sampling", s)
    for r in score.runs:
        print(" ", r.task_id, r.outcome, r.tool_calls, [e.cls for e in r.errors])
    assert s["tool_calls"] >= len(battery.tasks) // 2
    assert s["error_counts"].get("call_in_content", 0) < s["tool_calls"]
    assert s["format_error_rate"] < 0.5
    assert s["finished_rate"] >= 0.5  # sampled decoding: answers, not loops
    for r in score.runs:
        assert r.clean == (r.finished and not r.errors)


def test_greedy_decoding_on_the_fixed_lane_is_scored_honestly(llama_server, qwen_path):
    """Temperature 0: the model's loops (identical calls to the turn limit) must score as timeouts."""
    battery = load_battery()
    with serve_lane(_qwen_lane("it-agents-qwen-greedy", chat_template_file="qwen2.5-coder-tools")) as lane:
        runs = run_battery(lane.base_url, lane.model_id, battery, max_turns=6, task_timeout_s=600, temperature=0)
    score = score_runs(runs, battery)
    s = score.summary
    _report("qwen fixed template, greedy", s)
    assert s["tool_calls"] >= len(battery.tasks) // 2 and s["error_counts"]["call_in_content"] == 0
    assert s["turn_limited_runs"] >= s["looping_runs"]
    assert s["finished_rate"] + s["turn_limited_runs"] / s["n_runs"] <= 1.0
    for r in score.runs:
        if r.stop_reason == "max_turns":
            assert r.outcome == "timeout" and not r.finished and not r.clean
    assert s["format_error_rate"] < 0.5


def _report(label: str, summary: dict) -> None:
    """Print the measured rates (run with -s to see them)."""
    keys = ("n_runs", "format_error_rate", "clean_run_rate", "finished_rate", "task_success_rate",
            "tool_calls_per_run", "turn_limited_runs", "looping_runs", "error_counts", "outcomes", "verdict",
            "mean_run_s")
    print(f"\n[{label}]", {k: summary.get(k) for k in keys})
