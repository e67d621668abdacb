"""The streaming client: ns timestamps, token accounting, length enforcement, errors as data."""

from __future__ import annotations

import asyncio
import json

import httpx
from load_fakes import (
    DONE,
    MS,
    FakeClock,
    TimedStream,
    chat_delta,
    event,
    final_chunk,
    timed_transport,
    token_parts,
)

from lanekit.endpoint.client import EndpointClient, build_payload
from lanekit.endpoint.records import osl_tolerance
from lanekit.load.metrics import record_metrics


def stream(parts, clock=None, *, api="chat", max_tokens=4, enforce=True, seen=None, transport=None, **kw):
    clock = clock or FakeClock()
    transport = transport or timed_transport(parts, clock, seen)

    async def go():
        async with EndpointClient("http://x/v1", "m", transport=transport, clock=clock, api=api) as c:
            return await c.stream(prompt="hi", max_tokens=max_tokens, enforce_length=enforce, **kw)

    return asyncio.run(go())


def test_timestamps_give_ttfr_ttft_ttfo_itl_e2e_in_integer_ns():
    parts = [
        (100 * MS, chat_delta(role="assistant")),                # TTFR: a chunk with no token
        (50 * MS, chat_delta(reasoning_content="think")),       # TTFT: first token, reasoning
        (10 * MS, chat_delta(reasoning_content="more")),
        (10 * MS, chat_delta(content="Hello")),                 # TTFO: first content token
        (10 * MS, chat_delta(content=" world")),
        (5 * MS, final_chunk(4) + DONE),
    ]
    rec = stream(parts)
    assert rec.ok and rec.valid
    assert (rec.ttfr_ns, rec.ttft_ns, rec.ttfo_ns, rec.e2e_ns) == (100 * MS, 150 * MS, 170 * MS, 185 * MS)
    assert rec.token_chunk_ns == [150 * MS, 160 * MS, 170 * MS, 180 * MS]
    assert rec.n_reasoning_chunks == 2 and rec.n_token_chunks == 4 and rec.n_chunks == 6
    m = record_metrics(rec)
    assert m["itl_ns"] == round(35 * MS / 3)  # (E2E − TTFT) / (OSL − 1)
    assert isinstance(m["itl_ns"], int) and isinstance(m["ttft_ns"], int)
    assert abs(m["decode_tok_s"] - 3 / 0.035) < 1e-9
    assert rec.output_head == "Hello world"


def test_payload_asks_for_usage_and_pins_the_output_length():
    seen: list = []
    stream(token_parts(4), max_tokens=4, seen=seen)
    body = seen[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 4 and body["ignore_eos"] is True and body["min_tokens"] == 4
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_enforce_length_off_sends_no_ignore_eos():
    body = build_payload("m", prompt="x", max_tokens=8, enforce_length=False)
    assert "ignore_eos" not in body and "min_tokens" not in body


def test_extra_body_is_merged_into_the_request():
    seen: list = []
    stream(token_parts(4), seen=seen, extra_body={"tools": [{"type": "function"}], "temperature": 0.7})
    assert seen[0]["tools"] == [{"type": "function"}] and seen[0]["temperature"] == 0.7


def test_short_output_is_flagged_and_left_out_of_valid():
    rec = stream(token_parts(100, usage=100), max_tokens=256)
    assert rec.ok and rec.short and rec.osl_mismatch and not rec.valid


def test_output_within_tolerance_is_not_short():
    assert osl_tolerance(256) == 12 and osl_tolerance(2000) == 50
    rec = stream(token_parts(250, usage=250), max_tokens=256)
    assert not rec.short and rec.valid


def test_short_output_without_enforcement_is_not_flagged_short():
    rec = stream(token_parts(10, usage=10), max_tokens=256, enforce=False)
    assert not rec.short and rec.osl_mismatch and rec.valid


def test_usage_disagreeing_with_chunk_count_is_flagged():
    rec = stream(token_parts(10, usage=20), max_tokens=20)
    assert rec.osl == 20 and rec.osl_source == "usage" and rec.usage_mismatch


def test_without_usage_osl_falls_back_to_the_chunk_count():
    parts = token_parts(5)
    parts[-1] = (MS, final_chunk(None) + DONE)
    rec = stream(parts, max_tokens=5)
    assert rec.osl == 5 and rec.osl_source == "chunks" and rec.isl is None


def test_http_error_is_recorded_not_raised():
    rec = stream([], transport=timed_transport([], status=500))
    assert not rec.ok and rec.status_code == 500 and "HTTP 500" in rec.error
    assert record_metrics(rec)["decode_tok_s"] is None


def test_connection_error_is_recorded_not_raised():
    def handler(request):
        raise httpx.ConnectError("refused")

    rec = stream([], transport=httpx.MockTransport(handler))
    assert not rec.ok and "ConnectError" in rec.error


def test_error_event_inside_the_stream_is_recorded():
    parts = [(MS, chat_delta(content="a")), (MS, event({"error": {"message": "context overflow"}}) + DONE)]
    rec = stream(parts)
    assert rec.error == "context overflow" and not rec.valid


def test_malformed_event_is_recorded_not_raised():
    rec = stream([(MS, chat_delta(content="a")), (MS, b"data: {not json\n\n")])
    assert rec.error and "malformed" in rec.error


def test_stream_without_any_token_is_an_error():
    rec = stream([(MS, chat_delta(role="assistant")), (MS, final_chunk(0) + DONE)])
    assert rec.error == "stream ended without a token"


def test_completions_api_reads_the_text_field():
    seen: list = []
    parts = [(MS, event({"choices": [{"index": 0, "text": f" w{i}"}]})) for i in range(3)]
    parts.append((MS, final_chunk(3) + DONE))
    rec = stream(parts, api="completions", max_tokens=3, seen=seen)
    assert rec.ok and rec.osl == 3 and rec.n_token_chunks == 3 and rec.ttfo_ns == MS
    assert seen[0]["prompt"] == "hi" and "messages" not in seen[0]


def test_event_split_across_reads_is_timed_by_the_read_that_completes_it():
    whole = chat_delta(content="abc")
    parts = [(10 * MS, whole[:15]), (5 * MS, whole[15:]), (MS, final_chunk(1) + DONE)]
    rec = stream(parts, max_tokens=1)
    assert rec.ttft_ns == 15 * MS and rec.output_head == "abc"


def test_several_events_in_one_read_share_its_arrival_time():
    parts = [(20 * MS, chat_delta(content="a") + chat_delta(content="b") + chat_delta(content="c")),
             (MS, final_chunk(3) + DONE)]
    rec = stream(parts, max_tokens=3)
    assert rec.token_chunk_ns == [20 * MS] * 3


def test_crlf_line_endings_and_comments_are_accepted():
    body = b": keep-alive\r\n\r\n" + chat_delta(content="x").replace(b"\n", b"\r\n") + final_chunk(1) + DONE
    rec = stream([(MS, body)], max_tokens=1)
    assert rec.ok and rec.osl == 1


def test_llamacpp_timings_give_the_server_decode_rate_and_cached_tokens():
    timings = {"predicted_per_second": 123.4, "predicted_n": 4, "cache_n": 7}
    rec = stream(token_parts(4, timings=timings), max_tokens=4)
    assert rec.server_decode_tok_s == 123.4 and rec.cached_tokens == 7
    assert record_metrics(rec)["server_decode_tok_s"] == 123.4


def test_usage_cached_tokens_win_over_timings():
    rec = stream(token_parts(4, timings={"cache_n": 7}, cached=9), max_tokens=4)
    assert rec.cached_tokens == 9


def test_tool_call_deltas_count_as_output_tokens():
    call = [{"index": 0, "function": {"name": "read_file", "arguments": "{\"pa"}}]
    parts = [(5 * MS, chat_delta(role="assistant")), (5 * MS, chat_delta(tool_calls=call)),
             (5 * MS, chat_delta(tool_calls=call)), (MS, final_chunk(2) + DONE)]
    rec = stream(parts, max_tokens=2)
    assert rec.ttft_ns == rec.ttfo_ns == 10 * MS and rec.n_token_chunks == 2


def test_each_read_is_timed_as_it_arrives_and_the_record_is_json_safe():
    parts = token_parts(3, gap_ns=7 * MS, first_ns=30 * MS)
    rec = stream(parts, max_tokens=3)
    assert rec.token_chunk_ns == [37 * MS, 44 * MS, 51 * MS]
    assert json.loads(json.dumps(rec.model_dump()))["osl"] == 3


def test_engine_rejecting_length_fields_is_asked_again_without_them():
    seen: list = []

    def handler(request):
        body = json.loads(request.content)
        seen.append(body)
        if "ignore_eos" in body:
            return httpx.Response(400, json={"error": "Extra inputs are not permitted: ignore_eos"})
        return httpx.Response(200, stream=TimedStream(token_parts(3), None))

    async def go():
        async with EndpointClient("http://x/v1", "m", transport=httpx.MockTransport(handler)) as c:
            return [await c.stream(prompt="hi", max_tokens=3), await c.stream(prompt="hi", max_tokens=3)]

    first, second = asyncio.run(go())
    assert first.ok and not first.enforced_length and second.ok and not second.enforced_length
    assert ["ignore_eos" in b for b in seen] == [True, False, False]  # rejected once, then remembered


def test_other_client_errors_are_not_retried():
    rec = stream([], transport=timed_transport([], status=400))
    assert rec.status_code == 400 and rec.enforced_length and not rec.ok


def test_request_on_a_connection_the_server_already_closed_is_sent_again():
    calls = {"n": 0}

    def handler(request):
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(200, stream=TimedStream(token_parts(3), None))

    rec = stream([], transport=httpx.MockTransport(handler), max_tokens=3)
    assert rec.ok and rec.attempts == 2 and calls["n"] == 2 and "stale_connection" not in rec.model_dump()


def test_a_server_that_keeps_dropping_connections_is_an_error_after_the_retries():
    def handler(request):
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    rec = stream([], transport=httpx.MockTransport(handler))
    assert not rec.ok and rec.attempts == 3 and "RemoteProtocolError" in rec.error


def test_a_blocking_request_is_interrupted_by_a_signal_at_once():
    """Ctrl-C during a synchronous request (doctor, agent loop) must not wait for the request's deadline."""
    import asyncio as _asyncio
    import os
    import signal
    import threading
    import time as _time

    from lanekit.endpoint.client import SyncEndpointClient

    class Stop(Exception):
        pass

    async def hang(request):
        await _asyncio.sleep(30)
        return httpx.Response(200, json={})

    def raise_stop(signum, frame):
        raise Stop

    import pytest

    old = signal.signal(signal.SIGINT, raise_stop)
    client = SyncEndpointClient("http://lane/v1", "m", transport=httpx.MockTransport(hang))
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    try:
        timer.start()
        t0 = _time.monotonic()
        with pytest.raises(Stop):
            client.request(messages=[{"role": "user", "content": "hi"}], stream=False, timeout_s=30)
        assert _time.monotonic() - t0 < 5.0
    finally:
        timer.cancel()
        timer.join()
        signal.signal(signal.SIGINT, old)
        client.close()
