"""The built-in loop against httpx.MockTransport: what it sends, what it records, how it stops."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from lanekit.agents import load_battery, run_battery, run_task, score_runs
from lanekit.agents.loop import chat_url

BATTERY = load_battery()
TASK = BATTERY.task("read_phrase")


def reply(content=None, calls=None, finish=None, reasoning=None, usage=(50, 10)) -> dict:
    msg = {"role": "assistant", "content": content}
    if calls is not None:
        msg["tool_calls"] = calls
    if reasoning is not None:
        msg["reasoning_content"] = reasoning
    return {"choices": [{"index": 0, "message": msg, "finish_reason": finish or ("tool_calls" if calls else "stop")}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]}}


def tool_call(name="read_file", args='{"path": "notes/secret.txt"}', cid="call_1") -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


class Script:
    """A fake endpoint: `respond(request_body, n)` gives the n-th response; requests are kept."""

    def __init__(self, respond: Callable[[dict, int], httpx.Response | dict]) -> None:
        self.respond = respond
        self.requests: list[dict] = []
        self.urls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        self.urls.append(str(request.url))
        out = self.respond(body, len(self.requests) - 1)
        return out if isinstance(out, httpx.Response) else httpx.Response(200, json=out)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def reads_then_answers(body: dict, n: int) -> dict:
    """Call read_file, then answer with whatever the tool returned."""
    if n == 0:
        return reply(calls=[tool_call()], reasoning="I should read the file.")
    tool_result = body["messages"][-1]["content"]
    return reply(content=f"The file says: {tool_result}")


def test_a_good_model_reads_the_fixture_and_answers_correctly():
    script = Script(reads_then_answers)
    run = run_task(TASK, base_url="http://lane/v1", model="m", battery=BATTERY, transport=script.transport)
    assert run.stop_reason == "answered" and run.error is None
    assert "violet-harbor-42" in run.final_answer
    assert [t.finish_reason for t in run.turns] == ["tool_calls", "stop"]
    assert run.turns[0].reasoning == "I should read the file."
    assert run.turns[0].tool_calls[0]["function"]["arguments"] == '{"path": "notes/secret.txt"}'
    assert (run.prompt_tokens, run.completion_tokens) == (100, 20)
    assert all(t.latency_ns is not None and t.latency_ns >= 0 for t in run.turns)
    assert [m["role"] for m in run.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert run.battery == "core@v1" and run.battery_sha256 == BATTERY.sha256
    score = score_runs([run], BATTERY)
    assert score.runs[0].outcome == "success" and score.summary["clean_run_rate"] == 1.0


def test_request_carries_tools_a_bounded_generation_and_no_sampling_of_its_own():
    script = Script(reads_then_answers)
    run = run_task(TASK, base_url="http://lane:8080", model="qwen", transport=script.transport, max_tokens=256)
    body = script.requests[0]
    assert script.urls[0] == "http://lane:8080/v1/chat/completions"
    # like Hermes, the loop sends no sampling: the lane's own defaults (the model card's) apply
    assert body["model"] == "qwen" and body["max_tokens"] == 256 and "temperature" not in body
    assert "sampling: the lane's defaults" in run.notes
    greedy = Script(reads_then_answers)
    run = run_task(TASK, base_url="http://lane:8080", model="qwen", transport=greedy.transport, temperature=0)
    assert all(b["temperature"] == 0 for b in greedy.requests) and "sampling: temperature 0" in run.notes
    assert body["tool_choice"] == "auto" and {t["function"]["name"] for t in body["tools"]} >= {"read_file", "run_shell"}
    assert body["messages"][1] == {"role": "user", "content": TASK.prompt}


@pytest.mark.parametrize(("base", "url"), [("http://h:1/v1", "http://h:1/v1/chat/completions"),
                                           ("http://h:1/v1/", "http://h:1/v1/chat/completions"),
                                           ("http://h:1", "http://h:1/v1/chat/completions")])
def test_chat_url_accepts_base_urls_with_or_without_v1(base, url):
    assert chat_url(base) == url


def test_malformed_arguments_get_an_error_result_and_a_sanitized_history():
    def respond(body, n):
        if n == 0:
            return reply(calls=[tool_call(args='{"path": "notes/secret.txt"')])
        return reply(content="I could not read it.")
    script = Script(respond)
    run = run_task(TASK, base_url="http://lane/v1", model="m", transport=script.transport)
    tool_msg = script.requests[1]["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["content"].startswith("error: arguments are not valid JSON")
    assert script.requests[1]["messages"][-2]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert run.turns[0].tool_calls[0]["function"]["arguments"] == '{"path": "notes/secret.txt"'  # raw kept
    assert [e.cls for e in score_runs([run], BATTERY).runs[0].errors] == ["malformed_arguments"]


def test_calls_without_ids_get_one_and_tools_run_in_the_jail():
    def respond(body, n):
        if n == 0:
            return reply(calls=[{"type": "function", "function": {"name": "read_file",
                                                                  "arguments": '{"path": "/etc/passwd"}'}}])
        return reply(content="done")
    script = Script(respond)
    run_task(TASK, base_url="http://lane/v1", model="m", transport=script.transport)
    msgs = script.requests[1]["messages"]
    assert msgs[-2]["tool_calls"][0]["id"] == msgs[-1]["tool_call_id"] == "call_0_0"
    assert "outside the workspace" in msgs[-1]["content"]


def test_the_turn_limit_stops_a_model_that_never_answers():
    script = Script(lambda body, n: reply(calls=[tool_call(cid=f"c{n}")]))
    run = run_task(TASK, base_url="http://lane/v1", model="m", max_turns=3, transport=script.transport)
    assert run.stop_reason == "max_turns" and len(run.turns) == 3 and len(script.requests) == 3
    assert score_runs([run], BATTERY).runs[0].outcome == "timeout"


def test_the_per_task_deadline_is_checked_against_the_injected_clock():
    now = [0]

    def clock():
        return now[0]

    def respond(body, n):
        now[0] += 90 * 10**9  # each request takes 90 s of fake time
        return reply(calls=[tool_call(cid=f"c{n}")])
    script = Script(respond)
    run = run_task(TASK, base_url="http://lane/v1", model="m", task_timeout_s=120, transport=script.transport,
                   clock=clock)
    assert run.stop_reason == "timeout" and len(script.requests) == 2
    assert run.wall_ns == 180 * 10**9


def test_a_transport_timeout_is_a_timeout_not_a_crash():
    def respond(body, n):
        raise httpx.ReadTimeout("slow prefill")
    run = run_task(TASK, base_url="http://lane/v1", model="m", transport=Script(respond).transport)
    assert run.stop_reason == "timeout" and run.turns == []


def test_http_errors_are_recorded_and_the_battery_goes_on():
    def respond(body, n):
        if body["messages"][1]["content"] == TASK.prompt:
            return httpx.Response(500, text="tools are not supported")
        return reply(content="42")
    runs = run_battery("http://lane/v1", "m", BATTERY, transport=Script(respond).transport)
    assert len(runs) == len(BATTERY.tasks)
    assert runs[0].stop_reason == "error" and "HTTP 500: tools are not supported" in runs[0].error
    assert all(r.stop_reason == "answered" for r in runs[1:])
    assert score_runs(runs, BATTERY).summary["outcomes"]["error"] == 1


def test_connection_refused_is_an_error_with_the_reason():
    def respond(body, n):
        raise httpx.ConnectError("connection refused")
    run = run_task(TASK, base_url="http://lane/v1", model="m", transport=Script(respond).transport)
    assert run.stop_reason == "error" and "ConnectError" in run.error


def test_a_response_without_choices_is_an_error():
    run = run_task(TASK, base_url="http://lane/v1", model="m", transport=Script(lambda b, n: {"oops": 1}).transport)
    assert run.stop_reason == "error" and "malformed response" in run.error


def test_a_cut_off_reply_ends_the_run_as_length_and_its_partial_calls_are_not_executed():
    script = Script(lambda body, n: reply(content="Let me", calls=[tool_call(args='{"pa')], finish="length"))
    run = run_task(TASK, base_url="http://lane/v1", model="m", transport=script.transport)
    assert run.stop_reason == "length" and len(script.requests) == 1
    assert [e.cls for e in score_runs([run], BATTERY).runs[0].errors] == ["truncated"]


def test_an_empty_reply_is_recorded_as_empty():
    run = run_task(TASK, base_url="http://lane/v1", model="m", transport=Script(lambda b, n: reply(content="")).transport)
    assert run.stop_reason == "empty" and run.final_answer is None


def test_a_text_only_model_is_scored_as_failing_to_call_tools():
    # what llama-server does with SmolLM2: tools are dropped, the model just talks
    script = Script(lambda body, n: reply(content="I'm sorry, I cannot access files."))
    runs = run_battery("http://lane/v1", "smol", BATTERY, transport=script.transport)
    s = score_runs(runs, BATTERY).summary
    assert s["format_error_rate"] == 1.0 and s["clean_run_rate"] == 0.0 and s["finished_rate"] == 1.0
    assert s["error_counts"]["no_call"] == len(BATTERY.tasks) and s["task_success_rate"] == 0.0


def test_file_artifacts_are_captured_before_the_workspace_is_removed():
    task = BATTERY.task("create_then_read")

    def respond(body, n):
        if n == 0:
            return reply(calls=[tool_call("write_file", json.dumps({"path": "out/greeting.txt",
                                                                    "content": "hello from lanekit"}))])
        return reply(content="It contains hello from lanekit")
    run = run_task(task, base_url="http://lane/v1", model="m", transport=Script(respond).transport)
    assert run.artifacts == {"out/greeting.txt": "hello from lanekit"}
    assert score_runs([run], BATTERY).runs[0].outcome == "success"


def test_run_battery_repeats_task_major_and_reports_progress():
    seen = []
    script = Script(lambda body, n: reply(content="x"))
    runs = run_battery("http://lane/v1", "m", BATTERY, repeats=2, transport=script.transport,
                       progress=lambda done, total, run: seen.append((done, total, run.id)))
    assert [r.id for r in runs[:3]] == ["read_phrase#0", "read_phrase#1", "count_lines#0"]
    assert seen[-1][:2] == (16, 16) and len(seen) == 16
    with pytest.raises(ValueError):
        run_battery("http://lane/v1", "m", BATTERY, repeats=0, transport=script.transport)


def test_an_agent_run_round_trips_through_json():
    from lanekit.agents import AgentRun

    run = run_task(TASK, base_url="http://lane/v1", model="m", transport=Script(reads_then_answers).transport)
    again = AgentRun.model_validate_json(run.model_dump_json())
    assert again == run
