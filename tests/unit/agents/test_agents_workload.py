"""Agent runs and Hermes sessions as a replayable trace: request k holds the history before reply k,
delays are the agent's own gaps, the AIPerf mooncake_trace shape, history and delta forms."""

from __future__ import annotations

import json

import pytest
from agent_traces import call, run, turn

from lanekit.agents.tools import TOOL_SPECS
from lanekit.agents.traces.hermes_requests import from_hermes_session, hermes_tools
from lanekit.agents.traces.workload import (
    FIELD_ORDER,
    convert_runs,
    describe,
    dumps_trace,
    from_agent_run,
    parse_trace,
    read_trace,
)
from lanekit.errors import ConfigError

SYSTEM = {"role": "system", "content": "You are an agent."}
USER = {"role": "user", "content": "What is the passphrase in notes/secret.txt?"}


def builtin_run():
    """A two-turn built-in loop run: a call at t=0 (latency 1.2 s), a tool gap of 0.3 s, then the answer."""
    t0, t1 = turn(0, calls=[call()]), turn(1, content="The passphrase is violet-harbor-42.")
    t0.started_ns, t0.latency_ns = 5_000_000, 1_200_000_000
    t1.started_ns, t1.latency_ns = 1_505_000_000, 800_000_000
    r = run([t0, t1])
    r.started_at = 1000.0
    r.messages = [
        SYSTEM,
        USER,
        {"role": "assistant", "content": "", "tool_calls": [call()]},
        {"role": "tool", "tool_call_id": "c1", "name": "read_file", "content": "violet-harbor-42"},
        {"role": "assistant", "content": "The passphrase is violet-harbor-42."},
    ]
    return r


def test_an_agent_run_becomes_one_request_per_reply_with_its_history():
    reqs = from_agent_run(builtin_run(), t0=999.0, max_tokens=512)
    assert len(reqs) == 2
    assert reqs[0].messages == [SYSTEM, USER]
    assert reqs[1].messages == builtin_run().messages[:4]  # ...the call and its result
    assert reqs[0].tools == TOOL_SPECS  # the built-in loop's full tool list, descriptions included
    assert reqs[0].timestamp == pytest.approx(1005.0)  # 1 s after the trace's start + 5 ms to send
    assert reqs[0].delay is None and reqs[1].delay == pytest.approx(300.0)  # 1.505 − (0.005 + 1.2) s
    assert [r.output_length for r in reqs] == [20, 20]
    assert reqs[1].lanekit.reply == {"role": "assistant", "content": "The passphrase is violet-harbor-42."}
    assert reqs[0].lanekit.max_tokens == 512 and reqs[0].lanekit.latency_ms == pytest.approx(1200.0)


def test_a_run_without_send_offsets_has_no_delays():
    r = builtin_run()
    for t in r.turns:
        t.started_ns = None
    assert [q.delay for q in from_agent_run(r)] == [None, None]


def hermes_session():
    return {
        "id": "20260101_s1",
        "source": "cli",
        "model": "m",
        "started_at": 100.0,
        "ended_at": 110.0,
        "system_prompt": "You are Hermes.",
        "messages": [
            {"id": 1, "role": "user", "content": USER["content"], "timestamp": 100.5},
            {
                "id": 2,
                "role": "assistant",
                "content": "",
                "timestamp": 104.0,
                "finish_reason": "tool_calls",
                "tool_calls": [{"name": "read_file", "arguments": '{"path": "notes/secret.txt"}'}],
                "reasoning": "I should read it",
                "token_count": 31,
            },
            {
                "id": 3,
                "role": "tool",
                "content": '{"content": "1|violet-harbor-42"}',
                "tool_call_id": "call_a",
                "tool_name": "read_file",
                "timestamp": 104.2,
            },
            {
                "id": 4,
                "role": "assistant",
                "content": "violet-harbor-42",
                "timestamp": 106.0,
                "finish_reason": "stop",
                "token_count": 9,
            },
        ],
    }


def test_a_hermes_session_keeps_the_system_prompt_tools_ids_and_gaps():
    reqs = from_hermes_session(hermes_session(), t0=100.0)
    assert [m["role"] for m in reqs[0].messages] == ["system", "user"]
    assert reqs[0].messages[0]["content"] == "You are Hermes."
    # the stored {name, arguments} call gets the id its tool result names, in OpenAI shape
    call_msg = reqs[1].messages[2]
    assert call_msg["tool_calls"] == [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "read_file", "arguments": '{"path": "notes/secret.txt"}'},
        }
    ]
    assert reqs[1].messages[3] == {
        "role": "tool",
        "content": '{"content": "1|violet-harbor-42"}',
        "tool_call_id": "call_a",
    }
    assert "reasoning" not in call_msg and "timestamp" not in reqs[0].messages[1]  # not part of a request
    # sent when its last message was stored; the gap is from the previous reply's end
    assert reqs[0].timestamp == pytest.approx(500.0) and reqs[1].delay == pytest.approx(200.0)
    assert reqs[1].lanekit.latency_ms == pytest.approx(1800.0) and [r.output_length for r in reqs] == [31, 9]
    # the tools Hermes sends for the toolset that holds the called tool, descriptions and all
    assert {t["function"]["name"] for t in reqs[0].tools} == {
        "patch",
        "read_file",
        "search_files",
        "write_file",
    }
    assert all(t["function"].get("description") for t in reqs[0].tools)


def test_hermes_toolsets_are_checked():
    assert {t["function"]["name"] for t in hermes_tools(["terminal"])} == {"process", "terminal"}
    with pytest.raises(ConfigError, match="no Hermes tool definitions"):
        hermes_tools(["spotify"])


def test_history_and_delta_forms_round_trip(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(hermes_session()) + "\n" + builtin_run().model_dump_json() + "\n")
    trace, notes = convert_runs(path)
    assert notes == [] and len(trace.requests) == 4 and len(trace.sessions()) == 2
    history = dumps_trace(trace)
    delta = dumps_trace(trace, "delta")
    lines = [json.loads(x) for x in delta.splitlines()]
    assert all(x["message_mode"] == "delta" for x in lines)
    assert lines[1]["messages"] == [
        {"role": "tool", "content": '{"content": "1|violet-harbor-42"}', "tool_call_id": "call_a"}
    ]  # only what is new
    assert "message_mode" not in json.loads(history.splitlines()[0])
    # both forms read back to the same requests
    a, b = parse_trace(history), parse_trace(delta)
    assert (
        [r.messages for r in a.requests]
        == [r.messages for r in b.requests]
        == [r.messages for r in trace.requests]
    )
    # AIPerf mooncake_trace fields, in order; lanekit's own under one key
    first = json.loads(history.splitlines()[0])
    assert list(first)[:4] == ["session_id", "timestamp", "output_length", "messages"]
    assert set(first) <= set(FIELD_ORDER)


def test_a_session_that_rewrites_its_history_stays_in_history_form():
    trace = parse_trace(dumps_trace(convert_runs_from([hermes_session()])))
    trace.requests[1].messages = trace.requests[1].messages[1:]  # e.g. compression dropped the system prompt
    assert all("message_mode" not in json.loads(x) for x in dumps_trace(trace, "delta").splitlines())


def convert_runs_from(sessions, tmp=None):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "s.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in sessions))
    return convert_runs(path)[0]


def test_bad_lines_are_notes_and_bad_traces_name_the_line(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text("not json\n[1]\n" + json.dumps(hermes_session()) + "\n{}\n")
    trace, notes = convert_runs(path)
    assert len(trace.requests) == 2 and len(notes) == 3 and notes[0].startswith("line 1")
    with pytest.raises(ConfigError, match="line 2: messages"):
        parse_trace(
            '{"session_id": "a", "messages": [{"role": "user", "content": "x"}]}\n{"session_id": "a"}\n'
        )
    mixed = (
        '{"session_id": "a", "message_mode": "delta", "messages": [{"role": "user", "content": "x"}]}\n'
        '{"session_id": "a", "messages": [{"role": "user", "content": "y"}]}\n'
    )
    with pytest.raises(ConfigError, match="mixes delta and history"):
        parse_trace(mixed)
    foreign_delta = mixed.replace(
        '"messages": [{"role": "user", "content": "y"}]',
        '"message_mode": "delta", "messages": [{"role": "user", "content": "y"}]',
    )
    with pytest.raises(ConfigError, match="--replay-mode delta"):
        parse_trace(foreign_delta)  # AIPerf's own delta files carry no recorded reply to replay verbatim
    with pytest.raises(ConfigError, match="no shipped trace"):
        read_trace("embedded:nope")


def test_describe_counts_what_a_trace_holds(tmp_path):
    info = describe(convert_runs_from([hermes_session()]))
    assert (info["sessions"], info["requests"], info["extend_previous"], info["later_requests"]) == (
        1,
        2,
        1,
        1,
    )
    assert info["output_tokens"] == 40 and info["harness"] == ["hermes"] and "read_file" in info["tools"]
