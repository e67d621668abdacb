"""Fakes for load tests: a fake ns clock, SSE builders, and `httpx.MockTransport` streaming servers
whose chunks advance the fake clock as they are read."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx

MS = 1_000_000


class FakeClock:
    """A ns clock that only moves when told to."""

    def __init__(self, start: int = 1_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> None:
        self.now += ns


def event(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def chat_delta(**delta) -> bytes:
    return event({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})


def final_chunk(completion_tokens: int | None, prompt_tokens: int = 10, timings: dict | None = None,
                cached: int | None = None, finish_reason: str = "length") -> bytes:
    obj: dict = {"choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]}
    if completion_tokens is not None:
        obj["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens}
        if cached is not None:
            obj["usage"]["prompt_tokens_details"] = {"cached_tokens": cached}
    if timings is not None:
        obj["timings"] = timings
    return event(obj)


DONE = b"data: [DONE]\n\n"


class TimedStream(httpx.AsyncByteStream):
    """Yields (delay_ns, bytes) parts, advancing the clock by delay_ns before each read returns."""

    def __init__(self, parts: list[tuple[int, bytes]], clock: FakeClock | None) -> None:
        self.parts = parts
        self.clock = clock

    async def __aiter__(self):
        for delay, data in self.parts:
            if self.clock is not None:
                self.clock.advance(delay)
            yield data
            await asyncio.sleep(0)  # let concurrent streams interleave chunk by chunk, as on a real server


def timed_transport(parts: list[tuple[int, bytes]], clock: FakeClock | None = None,
                    seen: list | None = None, status: int = 200) -> httpx.MockTransport:
    """A transport answering every POST with the same timed SSE parts (request bodies go to `seen`)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(json.loads(request.content))
        if status != 200:
            return httpx.Response(status, content=b'{"error": "boom"}')
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=TimedStream(parts, clock))

    return httpx.MockTransport(handler)


def token_parts(n: int, gap_ns: int = 10 * MS, first_ns: int = 100 * MS, usage: int | None = -1,
                timings: dict | None = None, cached: int | None = None, prompt_tokens: int = 10) -> list:
    """A chat stream: role chunk at first_ns, then n one-token content chunks gap_ns apart, then usage."""
    parts = [(first_ns, chat_delta(role="assistant", content=""))]
    parts += [(gap_ns, chat_delta(content=f" t{i}")) for i in range(n)]
    parts.append((MS, final_chunk(n if usage == -1 else usage, prompt_tokens, timings, cached) + DONE))
    return parts


def llm_transport(*, decode_tok_s: float = 100.0, short_every: int = 0, fail_every: int = 0,
                  prompt_tokens: Callable[[dict], int] | None = None, cached: Callable[[dict], int | None] | None = None,
                  prefill_delay_s: Callable[[dict], float] | None = None, props: dict | None = None,
                  clock: FakeClock | None = None, seen: list | None = None) -> httpx.MockTransport:
    """A fake engine: streams exactly max_tokens tokens (or half of them every `short_every`-th request),
    fails every `fail_every`-th request with HTTP 500, reports llama.cpp-style timings, and serves
    `/props` when given. With a fake clock, each token advances it by 1/decode_tok_s."""
    count = {"n": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            if request.url.path.endswith("/props") and props is not None:
                return httpx.Response(200, json=props)
            return httpx.Response(404, json={"error": "no"})
        body = json.loads(request.content)
        if seen is not None:
            seen.append(body)
        count["n"] += 1
        if fail_every and count["n"] % fail_every == 0:
            return httpx.Response(500, content=b"engine exploded")
        n = int(body["max_tokens"])
        if short_every and count["n"] % short_every == 0:
            n = max(1, n // 2)
        if prefill_delay_s is not None:
            await asyncio.sleep(prefill_delay_s(body))
        gap = int(1e9 / decode_tok_s)
        timings = {"predicted_n": n, "predicted_ms": (n - 1) * gap / 1e6,
                   "predicted_per_second": decode_tok_s, "prompt_per_second": 500.0}
        pt = prompt_tokens(body) if prompt_tokens else 10
        parts = token_parts(n, gap_ns=gap, first_ns=20 * MS, timings=timings, prompt_tokens=pt,
                            cached=cached(body) if cached else None)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=TimedStream(parts, clock))

    return httpx.MockTransport(handler)
