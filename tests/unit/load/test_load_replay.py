"""The replayer against a fake streaming server on a fake clock: request order, prompts that
extend the previous one (verbatim or threading the lane's own replies), recorded delays honoured,
the lane's sampling (no sampling field sent), and the per-turn numbers it reports."""

from __future__ import annotations

import json
from itertools import pairwise

import httpx
import pytest
from load_fakes import DONE, MS, FakeClock, TimedStream, chat_delta, event

from lanekit.agents.traces.workload import Trace, TraceMeta, TraceRequest
from lanekit.load.replay import run_replay
from lanekit.load.sink import ListSink

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
    }
]
SYSTEM = {"role": "system", "content": "You are an agent."}


def _call(cid: str, path: str) -> dict:
    return {
        "id": cid,
        "type": "function",
        "function": {"name": "read_file", "arguments": json.dumps({"path": path})},
    }


def _session(sid: str, delays_ms: list[float]) -> list[TraceRequest]:
    """A recorded session: each turn reads a file, the last answers; request k = history before reply k."""
    history = [SYSTEM, {"role": "user", "content": f"task {sid}"}]
    out = []
    n = len(delays_ms) + 1
    for k in range(n):
        last = k == n - 1
        reply = (
            {"role": "assistant", "content": "done"}
            if last
            else {"role": "assistant", "content": "", "tool_calls": [_call(f"rec-{sid}-{k}", f"f{k}.txt")]}
        )
        out.append(
            TraceRequest(
                session_id=sid,
                messages=list(history),
                tools=TOOLS,
                output_length=4 + k,
                delay=delays_ms[k - 1] if k else None,
                timestamp=0.0 if k == 0 else None,
                lanekit=TraceMeta(turn=k, reply=reply, max_tokens=64),
            )
        )
        history = history + [reply]
        if not last:
            history.append({"role": "tool", "tool_call_id": f"rec-{sid}-{k}", "content": f"contents of f{k}"})
    return out


def _trace() -> Trace:
    return Trace(requests=_session("a", [50.0, 120.0]) + _session("b", [30.0]), source="test", sha256="x")


class FakeLane:
    """A streaming chat server: prefill costs 1 ms per uncached prompt token, decode 10 ms per token,
    the prompt cache keeps the last request's messages (cached = the shared message prefix). Every
    body is kept with the fake time it arrived; each reply makes one tool call with a fresh id."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.bodies: list[tuple[int, dict]] = []
        self.ends: list[int] = []
        self.last: list[dict] = []
        self.n = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append((self.clock(), body))
        self.n += 1
        msgs = body["messages"]
        shared = 0
        while shared < min(len(msgs), len(self.last)) and msgs[shared] == self.last[shared]:
            shared += 1
        self.last = msgs
        isl = 10 * len(msgs)
        cached = 10 * shared
        n = int(body["max_tokens"])
        call = [
            {
                "index": 0,
                "id": f"live-{self.n}",
                "type": "function",
                "function": {"name": "read_file", "arguments": json.dumps({"path": f"live{self.n}.txt"})},
            }
        ]
        parts = [((isl - cached) * MS, chat_delta(role="assistant", tool_calls=call))]
        parts += [(10 * MS, chat_delta(content=f" t{i}")) for i in range(n - 1)]
        usage = {
            "prompt_tokens": isl,
            "completion_tokens": n,
            "total_tokens": isl + n,
            "prompt_tokens_details": {"cached_tokens": cached},
        }
        final = event(
            {
                "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
                "usage": usage,
                "timings": {"prompt_n": isl - cached, "cache_n": cached, "prompt_per_second": 1000.0},
            }
        )
        parts.append((MS, final + DONE))
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_Ends(parts, self.clock, self.ends)
        )


class _Ends(TimedStream):
    def __init__(self, parts, clock, ends):
        super().__init__(parts, clock)
        self.ends = ends

    async def __aiter__(self):
        async for chunk in super().__aiter__():
            yield chunk
        self.ends.append(self.clock())


def _replay(mode="history", repeats=1, **kw):
    clock = FakeClock()
    lane = FakeLane(clock)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(int(seconds * 1e9))

    sink = ListSink()
    result = run_replay(
        "http://lane/v1",
        "m",
        _trace(),
        mode=mode,
        repeats=repeats,
        sink=sink,
        transport=httpx.MockTransport(lane.handler),
        clock=clock,
        sleep=sleep,
        **kw,
    )
    return result, lane, sink, slept


def test_history_replay_sends_every_request_in_order_each_extending_the_last():
    result, lane, _, _ = _replay()
    bodies = [b for _, b in lane.bodies]
    trace = _trace()
    assert [b["messages"] for b in bodies] == [r.messages for r in trace.requests]
    for prev, cur in pairwise(bodies[:3]):  # session a
        assert cur["messages"][: len(prev["messages"])] == prev["messages"]
    # streamed, tools offered, the lane's sampling: no temperature/top_p/seed sent
    assert all(b["stream"] and b["tools"] == TOOLS and b["tool_choice"] == "auto" for b in bodies)
    assert not any(k in b for b in bodies for k in ("temperature", "top_p", "top_k", "seed"))
    # history mode pins each reply to its recorded length: identical work on every lane
    assert [b["max_tokens"] for b in bodies] == [4, 5, 6, 4, 5]
    assert all(b["ignore_eos"] and b["min_tokens"] == b["max_tokens"] for b in bodies)
    assert result.summary["requests"] == 5 and result.summary["errors"] == 0
    assert result.summary["trace_extends"] == {"requests": 3, "extend_previous": 3}


def test_recorded_delays_are_honoured_from_the_previous_reply_end():
    result, lane, sink, _ = _replay()
    starts = [t for t, _ in lane.bodies]
    # the gap between reply k-1's last byte and request k is the recorded delay (fake clock: exact)
    gaps_ms = [
        (starts[1] - lane.ends[0]) / MS,
        (starts[2] - lane.ends[1]) / MS,
        (starts[4] - lane.ends[3]) / MS,
    ]
    assert gaps_ms == pytest.approx([50.0, 120.0, 30.0], abs=10.0)
    assert gaps_ms == pytest.approx([50.0, 120.0, 30.0], abs=0.01)
    # a session's first request waits for nothing (sessions run back to back)
    assert starts[3] == lane.ends[2]
    rows = sink.of("replay")
    assert [r["scheduled_delay_ms"] for r in rows] == [None, 50.0, 120.0, None, 30.0]
    assert all(abs(r["schedule_lag_ms"]) < 1.0 for r in rows if r["schedule_lag_ms"] is not None)
    assert result.summary["schedule_lag_ms"]["n"] == 3


def test_no_delays_and_time_scale():
    _, lane, _, slept = _replay(honour_delays=False)
    assert not slept
    _, lane, _, _ = _replay(time_scale=0.5)
    starts = [t for t, _ in lane.bodies]
    assert (starts[2] - lane.ends[1]) / MS == pytest.approx(60.0, abs=0.01)


def test_delta_replay_threads_the_lanes_own_replies_and_remaps_tool_ids():
    result, lane, _, _ = _replay(mode="delta")
    bodies = [b["messages"] for _, b in lane.bodies]
    # request k = request k-1 + the lane's live reply + the recorded tool result, answering the live call
    for k in (1, 2):
        prev, cur = bodies[k - 1], bodies[k]
        assert cur[: len(prev)] == prev
        live = cur[len(prev)]
        assert live["role"] == "assistant" and live["tool_calls"][0]["id"] == f"live-{k}"
        assert cur[len(prev) + 1] == {
            "role": "tool",
            "tool_call_id": f"live-{k}",
            "content": f"contents of f{k - 1}",
        }
    # the trace itself is untouched (a second pass remaps afresh)
    assert _trace().requests[1].messages[-1]["tool_call_id"] == "rec-a-0"
    # delta mode lets replies stop where the lane stops, under the trace's cap
    assert [b["max_tokens"] for _, b in lane.bodies] == [64] * 5 and "ignore_eos" not in lane.bodies[0][1]
    assert result.summary["threading"] == {
        "padded_calls": 0,
        "dropped_calls": 0,
        "resynced": 0,
        "recorded_replies": 0,
    }


def test_per_turn_numbers_prefix_reuse_and_real_prefill():
    result, _, sink, _ = _replay()
    s = result.summary
    rows = sink.of("replay")
    # turn 2 of session a re-sends the 4 messages of turn 1: 40 of its 60 prompt tokens come from the cache
    third = rows[2]
    assert third["isl"] == 60 and third["cached_tokens"] == 40 and third["prompt_evaluated"] == 20
    # prefill over the tokens really evaluated, not over the cached ones (20 tokens in 20 ms = 1000 tok/s)
    assert third["evaluated_prefill_tok_s"] == pytest.approx(1000.0)
    assert s["prefix_reuse_after_first"] == pytest.approx((20 + 40 + 20) / (40 + 60 + 40), abs=1e-4)
    # session b's first request shares only the system prompt with session a's last
    assert rows[3]["cached_tokens"] == 10
    assert s["cached_tokens"] == 90 and s["prompt_tokens"] == 180 and s["evaluated_tokens"] == 90
    assert s["turn_s"]["point"] > 0 and s["turn_s"]["n"] == 5
    assert len(s["per_turn"]) == 5 and s["per_turn"][2]["cached"] == 40


def test_repeats_give_intervals_with_sample_sizes():
    result, lane, _, _ = _replay(repeats=3)
    s = result.summary
    assert len(lane.bodies) == 15 and s["samples"] == 15
    for key in ("turn_s", "ttft_ms", "session_s"):
        assert s[key]["low"] is not None and s[key]["low"] <= s[key]["point"] <= s[key]["high"], key
    assert s["turn_s"]["n"] == 15 and s["session_s"]["n"] == 6
    assert not any("3 repeats" in w for w in s["warnings"])
    one = _replay(repeats=1)[0].summary
    assert one["turn_s"]["low"] is None and any("3 repeats" in w for w in one["warnings"])


def test_failed_requests_are_data_and_delta_keeps_the_recorded_reply():
    clock = FakeClock()
    lane = FakeLane(clock)
    calls = {"n": 0}

    def flaky(request):
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(500, content=b"boom")
        return lane.handler(request)

    result = run_replay(
        "http://lane/v1",
        "m",
        _trace(),
        mode="delta",
        transport=httpx.MockTransport(flaky),
        clock=clock,
        sleep=_advancing(clock),
    )
    s = result.summary
    assert s["errors"] == 1 and "HTTP 500" in s["first_error"] and s["samples"] == 4
    assert s["threading"]["recorded_replies"] == 1
    second = lane.bodies[0][1]["messages"]  # the first request failed: its recorded reply is threaded instead
    assert second[2]["tool_calls"][0]["id"] == "rec-a-0" and second[3]["tool_call_id"] == "rec-a-0"


def _advancing(clock):
    async def sleep(seconds: float) -> None:
        clock.advance(int(seconds * 1e9))

    return sleep


def test_timestamps_schedule_starts_sessions_at_their_offsets():
    trace = _trace()
    trace.requests[3].timestamp = 500.0  # session b starts 500 ms after the trace's start
    clock = FakeClock()
    lane = FakeLane(clock)
    t0 = clock()
    run_replay(
        "http://lane/v1",
        "m",
        trace,
        schedule="timestamps",
        honour_delays=False,
        transport=httpx.MockTransport(lane.handler),
        clock=clock,
        sleep=_advancing(clock),
    )
    firsts = {b["messages"][1]["content"]: t for t, b in lane.bodies if len(b["messages"]) == 2}
    assert firsts["task a"] == t0 and (firsts["task b"] - t0) / MS == pytest.approx(500.0, abs=0.01)


def test_depth_with_warm_resends_reports_cold_and_warm_beside_each_other():
    from load_fakes import llm_transport

    from lanekit.load.scenarios import run_depth

    seen: list[dict] = []
    last = {"prompt": None}

    def cached(body):  # the second time a prompt arrives, all but its last 8 tokens come from the cache
        text = body["messages"][0]["content"]
        hit = text == last["prompt"]
        last["prompt"] = text
        return int(len(text.split()) * 1.25) - 8 if hit else 0

    res = run_depth(
        "http://lane/v1",
        "m",
        depths=(512,),
        samples=3,
        warm=2,
        max_tokens=8,
        max_ctx=4096,
        transport=llm_transport(
            prompt_tokens=lambda b: int(len(b["messages"][0]["content"].split()) * 1.25),
            cached=cached,
            seen=seen,
        ),
    )
    row = res.summary["depths"][0]
    assert row["samples"] == 3 and row["warm_samples"] == 6
    assert row["cached_fraction_warm"] > 0.9 and row["ttft_ms_warm"] is not None
    # every warm request re-sends its cold prompt exactly; the three cold prompts differ
    prompts = [b["messages"][0]["content"] for b in seen[2:]]  # after the two calibration probes
    assert prompts[0] == prompts[1] == prompts[2] and prompts[3] == prompts[4] == prompts[5]
    assert len({prompts[0], prompts[3], prompts[6]}) == 3
    assert row["ttft_ms_cold_iv"]["n"] == 3 and row["decode_tok_s_iv"]["n"] == 3
