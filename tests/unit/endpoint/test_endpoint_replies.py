"""The one client's replies: streamed tool-call deltas assembled, reasoning kept, whole responses
passed through unrepaired, malformed streams and deadlines as failed requests."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from load_fakes import DONE, chat_delta, event

from lanekit.endpoint.client import EndpointClient, SyncEndpointClient


def _sse(*parts: bytes) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(parts))
    return httpx.MockTransport(handler)


def _request(transport, **kw):
    async def go():
        async with EndpointClient("http://x/v1", "m", transport=transport, timeout_s=kw.pop("timeout_s", 5)) as c:
            return await c.request(messages=[{"role": "user", "content": "hi"}], **kw)
    return asyncio.run(go())


def test_streamed_tool_call_deltas_are_assembled_by_index():
    transport = _sse(
        chat_delta(tool_calls=[{"index": 0, "id": "a", "type": "function",
                                "function": {"name": "read_file", "arguments": ""}}]),
        chat_delta(tool_calls=[{"index": 0, "function": {"arguments": '{"pa'}}]),
        chat_delta(tool_calls=[{"index": 1, "id": "b", "function": {"name": "list_dir", "arguments": "{}"}}]),
        chat_delta(tool_calls=[{"index": 0, "function": {"arguments": 'th": "x"}'}}]),
        event({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
               "usage": {"prompt_tokens": 9, "completion_tokens": 7}}), DONE)
    rec = _request(transport, stream=True, tools=[{"type": "function", "function": {"name": "read_file"}}])
    assert rec.ok and rec.saw_done and rec.finish_reason == "tool_calls" and rec.n_tool_calls == 2
    calls = rec.reply.tool_calls
    assert [c["id"] for c in calls] == ["a", "b"]
    assert calls[0]["function"] == {"name": "read_file", "arguments": '{"path": "x"}'}
    assert json.loads(calls[1]["function"]["arguments"]) == {}
    assert rec.reply.content is None and rec.osl == 7


def test_reasoning_deltas_are_kept_apart_from_the_content():
    transport = _sse(chat_delta(reasoning_content="think "), chat_delta(reasoning_content="more"),
                     chat_delta(content="answer"), event({"choices": [{"delta": {}, "finish_reason": "stop"}]}), DONE)
    rec = _request(transport, stream=True, max_tokens=None)
    assert rec.reply.reasoning == "think more" and rec.reply.content == "answer"
    assert rec.n_reasoning_chunks == 2 and rec.ttft_ns <= rec.ttfo_ns


def test_a_whole_response_keeps_its_tool_calls_exactly_as_sent():
    raw = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]
    body = {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": raw},
                         "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=body))
    rec = _request(transport, stream=False)
    assert rec.ok and rec.reply.tool_calls == raw  # the scorer judges the call, not a repaired copy
    assert rec.body == body and not rec.streamed


@pytest.mark.parametrize("payload, needle", [
    (b"data: [1,2,3]\n\n", "event is list"),
    (b'data: {"choices": "abc"}\n\n', "choices is 'abc'"),
    (b'data: {"choices": [{"delta": {"content": "\xff\xfe"}}]}\n\n', "not JSON"),
    (chat_delta(content="a") + b'data: {"choices": [], "usage": {"completion_tokens": "lots"}}\n\n' + DONE,
     "usage.completion_tokens is 'lots'"),
    (b'data: {"choices": [{"delta": "x"}]}\n\n', "delta is 'x'"),
    (b'data: {"choices": [{"delta": {"tool_calls": "x"}}]}\n\n', "tool_calls is str"),
    (chat_delta(content="partial"), "cut off"),
])
def test_a_malformed_stream_is_a_failed_request(payload, needle):
    rec = _request(_sse(payload), stream=True)
    assert not rec.ok and needle in rec.error, rec.error


def test_a_server_that_never_answers_fails_at_the_deadline():
    async def hang(request):
        await asyncio.sleep(30)
        return httpx.Response(200)

    rec = _request(httpx.MockTransport(hang), stream=True, timeout_s=0.2)
    assert rec.error_kind == "timeout" and "0.2 s request deadline" in rec.error


def test_keep_alive_pings_do_not_extend_the_deadline():
    class Pings(httpx.AsyncByteStream):
        async def __aiter__(self):
            while True:
                yield b": ping\n\n"
                await asyncio.sleep(0.02)

    transport = httpx.MockTransport(lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"},
                                                             stream=Pings()))
    rec = _request(transport, stream=True, timeout_s=0.3)
    assert rec.error_kind == "timeout" and rec.n_chunks == 0


def test_the_sync_client_shares_the_parsing_and_reuses_one_pool():
    seen = []

    def handler(request):
        seen.append(request.url.path)
        return httpx.Response(200, json={"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]})

    with SyncEndpointClient("http://x", "m", transport=httpx.MockTransport(handler)) as client:
        a = client.request(messages=[{"role": "user", "content": "1"}], stream=False)
        b = client.request(messages=[{"role": "user", "content": "2"}], stream=False, model="other")
        status, body, _, err = client.get("http://x/v1/models")
    assert a.reply.content == b.reply.content == "hi" and seen[:2] == ["/v1/chat/completions"] * 2
    assert status == 200 and err is None
