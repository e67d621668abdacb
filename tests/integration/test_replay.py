"""Agent traces replayed on a real llama-server: the trace shipped with lanekit through
`lanekit bench --replay`, and a real Hermes export (recorded with `--agent hermes` against the
Qwen lane; tests/unit/agents/data/) converted and replayed end to end, verbatim and threading the
lane's own replies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lanekit.agents.traces.workload import Trace, convert_runs, read_trace, write_trace
from lanekit.lanes import serve_lane
from lanekit.lanes.spec import parse_lane
from lanekit.load.replay import run_replay

DATA = Path(__file__).resolve().parent.parent / "unit" / "agents" / "data"
HERMES_EXPORT = DATA / "hermes-export.jsonl"
SMOL = {
    "name": "it-replay-smol",
    "engine": "llamacpp",
    "model": "smollm2-135m",
    "ctx": 4096,
    "parallel": 1,
    "threads": 2,
}


def _first_sessions(trace: Trace, n: int) -> Trace:
    keep = {s[0].session_id for s in trace.sessions()[:n]}
    return Trace(requests=[r for r in trace.requests if r.session_id in keep], source=trace.source)


def test_bench_replays_the_shipped_trace_with_per_turn_numbers_and_prefix_reuse(llama_server, tmp_path):
    trace = _first_sessions(read_trace("embedded:core"), 2)
    path = write_trace(trace, tmp_path / "two.trace.jsonl")
    with serve_lane(parse_lane(SMOL)) as lane:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "lanekit.cli.main",
                "bench",
                "--url",
                lane.base_url,
                "--replay",
                str(path),
                "--repeats",
                "1",
                "--no-store",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env=os.environ.copy(),
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads(proc.stdout)
    assert s["scenario"] == "replay" and s["requests"] == len(trace.requests) and s["errors"] == 0
    assert s["turn_s"]["point"] > 0 and s["turn_s"]["n"] == len(trace.requests)
    # llama-server reports what it took from its prefix cache: later turns of a session reuse
    # the earlier ones (the exact share depends on where the template re-renders history)
    assert s["prefix_reuse_after_first"] is not None and s["prefix_reuse_after_first"] > 0.3
    assert s["evaluated_tokens"] < s["prompt_tokens"]
    assert len(s["per_turn"]) == len(trace.requests)
    # the recorded gaps are reproduced (the loop's tool gaps are milliseconds)
    assert s["schedule_lag_ms"]["n"] == sum(len(x) - 1 for x in trace.sessions())
    assert s["schedule_lag_ms"]["p50"] < 10.0


@pytest.mark.slow
def test_a_real_hermes_export_converts_and_replays_end_to_end(llama_server, qwen_path, tmp_path):
    trace, notes = convert_runs(HERMES_EXPORT)
    assert notes == [] and len(trace.sessions()) == 2
    assert trace.requests[0].messages[0]["role"] == "system" and trace.requests[0].tools
    spec = parse_lane(
        {
            "name": "it-replay-qwen",
            "engine": "llamacpp",
            "model": "qwen2.5-coder-1.5b",
            "ctx": 16384,
            "parallel": 1,
            "threads": 2,
            "chat_template_file": "qwen2.5-coder-tools",
            "sampling": {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "repeat_penalty": 1.1},
        }
    )
    with serve_lane(spec) as lane:
        history = run_replay(lane.base_url, lane.model_id, trace, honour_delays=False, timeout_s=1800).summary
        delta = run_replay(
            lane.base_url,
            lane.model_id,
            trace,
            mode="delta",
            honour_delays=False,
            max_tokens=256,
            timeout_s=1800,
        ).summary
    for s in (history, delta):
        assert s["errors"] == 0, s["first_error"]
        assert s["requests"] == len(trace.requests) and s["turn_s"]["point"] > 0
    # Hermes re-sends its long system prompt and tool list every turn: the cache serves it
    assert history["prefix_reuse_after_first"] > 0.5
    assert delta["threading"]["resynced"] == 0
