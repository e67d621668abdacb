"""Parsing `hermes sessions export` JSONL into AgentRuns, and scoring them with the same scorer."""

from __future__ import annotations

import json

from lanekit.agents import load_battery, parse_sessions_export, score_runs
from lanekit.agents.traces.hermes import hermes_tool_schemas

BATTERY = load_battery()
PROMPT = BATTERY.task("read_phrase").prompt


def session(sid="s1", messages=None, **extra) -> dict:
    """A session record shaped like hermes-agent 0.19's `export_session`."""
    base = {"id": sid, "source": "oneshot", "model": "qwen2.5-coder-1.5b", "started_at": 1000.0,
            "ended_at": 1074.5, "end_reason": None, "message_count": len(messages or []), "tool_call_count": 1,
            "input_tokens": 2700, "output_tokens": 60, "api_call_count": 2, "title": None}
    base.update(extra)
    base["messages"] = messages if messages is not None else good_messages()
    return base


def good_messages(tool_calls_as_string=False) -> list[dict]:
    calls = [{"id": "call_a", "type": "function",
              "function": {"name": "read_file", "arguments": '{"path": "notes/secret.txt"}'}}]
    return [
        {"id": 1, "session_id": "s1", "role": "user", "content": PROMPT, "timestamp": 1000.0},
        {"id": 2, "session_id": "s1", "role": "assistant", "content": "", "timestamp": 1057.0,
         "tool_calls": json.dumps(calls) if tool_calls_as_string else calls, "finish_reason": "tool_calls",
         "reasoning": "Read it first.", "token_count": 30},
        {"id": 3, "session_id": "s1", "role": "tool", "content": '{"content": "The passphrase is: violet-harbor-42"}',
         "tool_call_id": "call_a", "tool_name": "read_file", "timestamp": 1057.2},
        {"id": 4, "session_id": "s1", "role": "assistant", "content": "The passphrase is violet-harbor-42.",
         "timestamp": 1074.4, "finish_reason": "stop", "token_count": 30},
    ]


def write_jsonl(path, lines) -> str:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return str(path)


def test_a_session_becomes_an_agent_run_with_turns_reasoning_tokens_and_timings(tmp_path):
    runs, skipped = parse_sessions_export(write_jsonl(tmp_path / "s.jsonl", [session()]))
    assert skipped == []
    (run,) = runs
    assert run.id == "s1" and run.source == "hermes" and run.model == "qwen2.5-coder-1.5b"
    assert run.prompt == PROMPT and run.final_answer == "The passphrase is violet-harbor-42."
    assert run.stop_reason == "answered"
    assert [t.finish_reason for t in run.turns] == ["tool_calls", "stop"]
    assert run.turns[0].reasoning == "Read it first." and run.turns[0].latency_ns == 57 * 10**9
    assert (run.prompt_tokens, run.completion_tokens) == (2700, 60) and run.wall_ns == int(74.5e9)
    assert [m["role"] for m in run.messages] == ["user", "assistant", "tool", "assistant"]
    assert run.messages[2]["name"] == "read_file"


def test_tool_calls_stored_as_a_json_string_are_decoded(tmp_path):
    runs, _ = parse_sessions_export(write_jsonl(tmp_path / "s.jsonl", [session(messages=good_messages(True))]))
    assert runs[0].turns[0].tool_calls[0]["function"]["name"] == "read_file"
    score = score_runs(runs, BATTERY)
    assert score.runs[0].task_id == "read_phrase"  # matched by prompt
    assert score.runs[0].outcome == "success" and score.runs[0].clean and score.runs[0].expected_tool_used


def test_a_malformed_line_is_reported_with_its_number_and_the_rest_is_still_scored(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [
        session("s1"),
        '{"id": "s2", "messages": [ {"role": "user"',    # cut-off line
        "",                                              # blank lines are ignored
        "[1, 2, 3]",
        {"id": "s4", "source": "cli"},                   # no messages
        session("s5"),
    ])
    runs, skipped = parse_sessions_export(path)
    assert [r.id for r in runs] == ["s1", "s5"]
    assert [(s.line, s.reason.split(":")[0]) for s in skipped] == [
        (2, "not valid JSON"), (4, "expected a session object, got a JSON list"), (5, "not a Hermes session")]
    assert score_runs(runs, BATTERY).summary["n_runs"] == 2


def test_a_session_where_the_agent_did_nothing_is_no_output_and_an_error():
    # the vLLM-without-tool-parser failure: the request died, only the user's message was stored
    runs, _ = parse_sessions_export([json.dumps(session(messages=good_messages()[:1], api_call_count=0))])
    score = score_runs(runs, BATTERY)
    assert [e.cls for e in score.runs[0].errors] == ["no_output"]
    assert score.runs[0].outcome == "error" and not score.runs[0].finished
    assert score.summary["format_error_rate"] == 1.0 and score.summary["clean_run_rate"] == 0.0


def test_a_session_that_stops_after_a_tool_result_is_incomplete_and_failed():
    runs, _ = parse_sessions_export([json.dumps(session(messages=good_messages()[:3]))])
    assert runs[0].stop_reason == "incomplete" and "without a final answer" in runs[0].notes[0]
    s = score_runs(runs, BATTERY).runs[0]
    assert not s.finished and s.outcome == "grader_fail"


def test_hidden_retries_are_noted_when_api_calls_exceed_recorded_turns():
    runs, _ = parse_sessions_export([json.dumps(session(api_call_count=5))])
    assert any("api_call_count=5" in n for n in runs[0].notes)


def test_hermes_calls_are_checked_against_hermes_tool_schemas():
    msgs = good_messages()
    msgs[1]["tool_calls"] = [
        {"id": "a", "type": "function", "function": {"name": "read_file", "arguments": '{"file": "x"}'}},
        {"id": "b", "type": "function", "function": {"name": "open_file", "arguments": "{}"}},
        {"id": "c", "type": "function", "function": {"name": "terminal", "arguments": '{"command": "ls"}'}},
        {"id": "d", "type": "function", "function": {"name": "search_files", "arguments": '{"pattern": 3}'}},
        {"name": "read_file", "arguments": '{"path": "notes/secret.txt"'},  # flat shape, bad JSON
    ]
    runs, _ = parse_sessions_export([json.dumps(session(messages=msgs))])
    errors = score_runs(runs, BATTERY).runs[0].errors
    assert [(e.cls, e.tool) for e in errors] == [("schema_violation", "read_file"), ("unknown_tool", "open_file"),
                                                 ("schema_violation", "search_files"),
                                                 ("malformed_arguments", "read_file")]
    assert "missing_required: path" in errors[0].detail and "unexpected_param: file" in errors[0].detail


def test_content_calls_truncation_and_unreadable_tool_calls_in_sessions():
    msgs = good_messages()[:1] + [
        {"role": "assistant", "content": '```json\n{"name": "read_file", "arguments": {"path": "x"}}\n```',
         "finish_reason": "stop"},
    ]
    runs, _ = parse_sessions_export([json.dumps(session(messages=msgs))])
    assert [e.cls for e in score_runs(runs, BATTERY).runs[0].errors] == ["call_in_content"]
    cut = good_messages()[:1] + [{"role": "assistant", "content": "The pass", "finish_reason": "length"}]
    runs, _ = parse_sessions_export([json.dumps(session(messages=cut))])
    assert runs[0].stop_reason == "length"
    assert [e.cls for e in score_runs(runs, BATTERY).runs[0].errors] == ["truncated"]
    broken = good_messages()
    broken[1]["tool_calls"] = '[{"id": "a", "function": {"name": "read_f'
    runs, _ = parse_sessions_export([json.dumps(session(messages=broken))])
    assert "not valid JSON" in runs[0].notes[0]
    assert [e.cls for e in score_runs(runs, BATTERY).runs[0].errors] == ["empty_call"]


def test_tool_schema_snapshot_by_toolset():
    assert set(hermes_tool_schemas(["file"])) == {"patch", "read_file", "search_files", "write_file"}
    assert "terminal" in hermes_tool_schemas(["terminal"])
    assert hermes_tool_schemas(["file"])["read_file"]["required"] == ["path"]
    assert len(hermes_tool_schemas()) > 50
