"""Golden files: real recorded runs convert byte-identically to the committed traces.

- `data/hermes-export.jsonl`: a real `hermes sessions export` (hermes-agent 0.19.0, 2 battery tasks on
  the embedded plan's qwen-coder-fixed lane), recorded with
  `python benchmarks/record_trace.py --agent hermes --tasks read_phrase,list_dir
   --runs tests/unit/agents/data/hermes-export.jsonl --out tests/unit/agents/data/hermes.trace.jsonl`.
- `data/core.runs.jsonl`: the built-in loop's runs of the battery on the same lane (streamed), from
  which the shipped `embedded:core` trace was converted (`python benchmarks/record_trace.py --out
  src/lanekit/agents/traces/core.trace.jsonl --runs tests/unit/agents/data/core.runs.jsonl`).

A change to the converter that changes a single byte of either trace fails here; regenerate the
golden file with `lanekit trace convert RUNS -o GOLDEN --max-tokens 512` only when the change is meant.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from lanekit.agents.traces.workload import convert_runs, dumps_trace, parse_trace, read_trace

DATA = Path(__file__).resolve().parent / "data"
SHIPPED = resources.files("lanekit.agents.traces").joinpath("core.trace.jsonl")


@pytest.mark.parametrize("runs,golden", [
    (DATA / "hermes-export.jsonl", DATA / "hermes.trace.jsonl"),
    (DATA / "core.runs.jsonl", SHIPPED),
], ids=["hermes-export", "builtin-battery"])
def test_recorded_runs_convert_byte_identically_to_the_golden_trace(runs, golden):
    trace, notes = convert_runs(runs, max_tokens=512)
    assert notes == []
    assert dumps_trace(trace) == golden.read_text(encoding="utf-8")


def test_the_real_hermes_export_is_a_growing_conversation_with_hermes_tools():
    trace = parse_trace((DATA / "hermes.trace.jsonl").read_text(encoding="utf-8"))
    assert len(trace.sessions()) == 2
    for session in trace.sessions():
        assert session[0].messages[0]["role"] == "system" and len(session[0].messages[0]["content"]) > 1000
        assert {t["function"]["name"] for t in session[0].tools} >= {"read_file", "search_files"}
        assert all(r.lanekit.source == "hermes" and r.lanekit.task_id for r in session)
    hits, total = trace.extends_previous()
    assert total and hits == total  # every later request re-sends the earlier ones: the prefix cache's case
    # its delta form reads back to the same requests
    assert [r.messages for r in parse_trace(dumps_trace(trace, "delta")).requests] == [r.messages for r in trace.requests]


def test_the_shipped_trace_is_the_embedded_battery():
    trace = read_trace("embedded:core")
    assert {r.lanekit.task_id for r in trace.requests} <= {
        "read_phrase", "count_lines", "create_then_read", "shell_date", "search_string", "sum_numbers", "list_dir",
        "find_then_read"}
    assert all(r.tools and r.output_length for r in trace.requests)
    assert trace.requests[0].lanekit.max_tokens == 512
