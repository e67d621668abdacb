"""Real Hermes Agent (hermes-agent 0.19.0) through the battery against the Qwen lane.

Hermes refuses any window below 64K (model and compression model), so the lane SERVES 65,536
tokens per request (`ctx=65536`, about 1.8 GB of KV for this model) rather than claiming 64K in
the Hermes config over a smaller window: a claimed window the lane does not serve would let
Hermes grow a conversation past what the server accepts instead of compressing it.
Qwen2.5-Coder-1.5B is trained on 32K and llama-server silently caps a slot at the training
context, so the lane extends it the way Qwen documents (YaRN, factor 2 over the 32K original)
and tells llama-server the new training length; `/props` then reports 65,536. One Hermes
turn takes about a minute on 2 cores and `hermes -z` allows 90 iterations, so this runs for a
long time; `LANEKIT_HERMES_TASKS` (comma-separated task ids) limits it to some tasks and
`LANEKIT_HERMES_TASK_TIMEOUT` (seconds, default 1800) bounds each task.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lanekit.agents import load_battery, score_runs
from lanekit.agents.hermes import MIN_CONTEXT, ensure_hermes, probe_served_ctx, run_battery_hermes
from lanekit.errors import HarnessError
from lanekit.lanes import serve_lane
from lanekit.lanes.spec import parse_lane

pytestmark = [pytest.mark.hermes, pytest.mark.slow, pytest.mark.timeout(14400)]
YARN_64K = ["--rope-scaling", "yarn", "--rope-scale", "2", "--yarn-orig-ctx", "32768",
            "--override-kv", "qwen2.context_length=int:65536"]


def test_llama_server_caps_a_slot_at_the_training_context_without_yarn(llama_server, qwen_path):
    # why YARN_64K exists: asking for 64K on a 32K-trained model silently serves 32K
    spec = parse_lane({"name": "it-hermes-cap", "engine": "llamacpp", "model": "qwen2.5-coder-1.5b",
                       "ctx": 65536, "threads": 2})
    with serve_lane(spec) as lane:
        assert probe_served_ctx(lane.base_url) == 32768


@pytest.fixture(scope="module")
def hermes_exe():
    # the test session uses a private LANEKIT_HOME; reuse the venv lanekit manages for the user
    os.environ.setdefault("LANEKIT_HERMES_VENV", str(Path.home() / ".cache" / "lanekit" / "hermes-venv"))
    try:
        return ensure_hermes(install=True)
    except HarnessError as exc:
        pytest.fail(f"hermes-agent could not be installed: {exc}")


def _battery():
    battery = load_battery()
    wanted = [t for t in os.environ.get("LANEKIT_HERMES_TASKS", "").split(",") if t]
    if wanted:
        battery = battery.model_copy(update={"tasks": [battery.task(t) for t in wanted]})
    return battery


def test_hermes_refuses_the_8k_lane_before_running(hermes_exe, llama_server, qwen_path, tmp_path):
    spec = parse_lane({"name": "it-hermes-8k", "engine": "llamacpp", "model": "qwen2.5-coder-1.5b", "ctx": 8192,
                       "threads": 2})
    with serve_lane(spec) as lane:
        served = probe_served_ctx(lane.base_url)
        assert served == 8192
        with pytest.raises(HarnessError, match="Hermes will refuse this lane"):
            run_battery_hermes(lane.base_url, lane.model_id, load_battery(), served_ctx=served,
                               hermes=hermes_exe, run_dir=tmp_path / "r")


def test_hermes_battery_on_the_qwen_lane_is_parsed_and_scored(hermes_exe, llama_server, qwen_path, tmp_path):
    battery = _battery()
    spec = parse_lane({"name": "it-hermes-qwen", "engine": "llamacpp", "model": "qwen2.5-coder-1.5b",
                       "ctx": 65536, "parallel": 1, "threads": 2, "max_output_tokens": 512,
                       "chat_template_file": "qwen2.5-coder-tools", "extra_args": YARN_64K,
                       # the model card's sampling: Hermes sends none, so the lane's defaults apply
                       "sampling": {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "repeat_penalty": 1.1}})
    with serve_lane(spec) as lane:
        served = probe_served_ctx(lane.base_url)
        assert served is not None and served >= MIN_CONTEXT
        runs = run_battery_hermes(lane.base_url, lane.model_id, battery, served_ctx=served, hermes=hermes_exe,
                                  run_dir=tmp_path / "hermes",
                                  task_timeout_s=float(os.environ.get("LANEKIT_HERMES_TASK_TIMEOUT", "1800")))
    assert (tmp_path / "hermes" / "sessions.jsonl").is_file()
    assert len(runs) == len(battery.tasks)
    assert all(r.source == "hermes" and r.harness_version == "hermes-agent 0.19.0" for r in runs)
    # every invocation is matched to its exported session, including those killed at the timeout
    # (measured twice: 8/8; an earlier report of 3/8 came from a run limited to 3 tasks)
    with_session = [r for r in runs if r.turns]
    assert len(with_session) == len(runs), [r.error for r in runs]
    s = score_runs(runs, battery).summary
    _report("hermes on qwen 64K", s)
    for r in score_runs(runs, battery).runs:
        print(r.id, r.task_id, r.outcome, r.stop_reason, r.tool_calls, r.repeat_streak, [e.cls for e in r.errors])
    assert s["n_runs"] == len(battery.tasks)
    assert s["tool_calls"] >= 1


def _report(label: str, summary: dict) -> None:
    """Print the measured rates (run with -s to see them)."""
    keys = ("n_runs", "format_error_rate", "clean_run_rate", "finished_rate", "task_success_rate",
            "tool_calls_per_run", "turn_limited_runs", "looping_runs", "error_counts", "outcomes", "verdict",
            "mean_run_s")
    print(f"\n[{label}]", {k: summary.get(k) for k in keys})
