"""Server-sent events in, one `RequestRecord` out: the accumulator both streamed and whole
responses go through.

Every event is checked for the shape OpenAI-compatible servers send; anything else raises
`Malformed`, which the client records as a failed request. Plain slots on the hot path (no pydantic
per event). Tool-call deltas are assembled by `index` (id and name from the first delta that has
them, argument fragments concatenated).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from lanekit.endpoint.records import USAGE_MISMATCH_FRACTION, Reply, RequestRecord, osl_tolerance


class Malformed(Exception):
    """The server sent something that is not an OpenAI-compatible response."""


def _as_count(value: Any, name: str) -> int | None:
    """A token count from usage/timings: an int (or integral float), None when absent; else Malformed."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        raise Malformed(f"{name} is {value!r}, not a token count")
    return int(value)


class StreamState:
    """Accumulates one response (plain slots: this runs once per SSE event)."""

    __slots__ = ("calls", "chat", "error", "error_kind", "finish_reason", "last", "n_chunks", "n_reasoning",
                 "raw_calls", "reasoning", "rec", "start", "text", "timings", "token_ns", "ttfo", "ttfr", "ttft",
                 "usage")

    def __init__(self, rec: RequestRecord, chat: bool) -> None:
        self.rec, self.start, self.last = rec, rec.start_ns, rec.start_ns
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.raw_calls: list[Any] | None = None  # a whole response's tool_calls, exactly as sent
        self.usage: dict | None = None
        self.chat = chat
        self.ttfr = self.ttft = self.ttfo = None
        self.n_chunks = self.n_reasoning = 0
        self.token_ns: list[int] = []
        self.finish_reason = self.timings = self.error = self.error_kind = None

    def fail(self, kind: str, message: str, now: int) -> None:
        """Record the request as failed (the first failure wins)."""
        if self.error is None:
            self.error, self.error_kind = message, kind
        self.last = now

    def event(self, obj: Any, now: int) -> None:
        """Account one SSE event that arrived at `now`."""
        if not isinstance(obj, dict):
            raise Malformed(f"event is {type(obj).__name__}, not an object")
        self.n_chunks += 1
        off = now - self.start
        if self.ttfr is None:
            self.ttfr = off
        choices = obj.get("choices")
        if choices:
            if not isinstance(choices, list) or not isinstance(choices[0], dict):
                raise Malformed(f"choices is {choices!r:.60}, not a list of objects")
            self._choice(choices[0], off)
        elif "error" in obj:
            err = obj["error"]
            self.error = err.get("message", str(err)) if isinstance(err, dict) else str(err)
            self.error_kind = "server"
        usage = obj.get("usage")
        if usage:
            if not isinstance(usage, dict):
                raise Malformed(f"usage is {usage!r:.60}, not an object")
            self.usage = usage
        timings = obj.get("timings")
        if timings:
            if not isinstance(timings, dict):
                raise Malformed(f"timings is {timings!r:.60}, not an object")
            self.timings = timings
        self.last = now

    def _choice(self, choice: dict, off: int) -> None:
        content: Any
        reasoning = None
        calls = None
        if self.chat:
            delta = choice.get("delta")
            if delta is None:
                delta = choice.get("message") or {}
            if not isinstance(delta, dict):
                raise Malformed(f"delta is {delta!r:.60}, not an object")
            content = delta.get("content")
            calls = delta.get("tool_calls")
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        else:
            content = choice.get("text")
        if content is not None and not isinstance(content, str):
            raise Malformed(f"content is {type(content).__name__}, not text")
        if reasoning is not None and not isinstance(reasoning, str):
            raise Malformed(f"reasoning is {type(reasoning).__name__}, not text")
        if calls:
            self._calls(calls)
        if content or reasoning or calls:
            self.token_ns.append(off)
            if self.ttft is None:
                self.ttft = off
            if reasoning:
                self.n_reasoning += 1
                self.reasoning.append(reasoning)
            if content or calls:
                if self.ttfo is None:
                    self.ttfo = off
                if content:
                    self.text.append(content)
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])

    def _calls(self, calls: Any) -> None:
        if isinstance(calls, dict):
            calls = [calls]
        if not isinstance(calls, list):
            raise Malformed(f"tool_calls is {type(calls).__name__}, not a list")
        for pos, delta in enumerate(calls):
            if not isinstance(delta, dict):
                raise Malformed("a tool_calls entry is not an object")
            index = delta.get("index", pos)
            index = index if isinstance(index, int) else pos
            call = self.calls.setdefault(index, {"id": None, "type": "function",
                                                 "function": {"name": "", "arguments": ""}})
            if delta.get("id"):
                call["id"] = str(delta["id"])
            fn = delta.get("function") or {}
            if not isinstance(fn, dict):
                raise Malformed("tool_calls[].function is not an object")
            name = fn.get("name")
            if isinstance(name, str) and name:
                call["function"]["name"] = name if not call["function"]["name"] else call["function"]["name"] + name
            args = fn.get("arguments")
            if args is not None:
                call["function"]["arguments"] += args if isinstance(args, str) else json.dumps(args)

    def whole(self, raw: bytes, now: int) -> None:
        """A non-streamed response body: one event holding the whole message."""
        from lanekit.endpoint.client import parse_json_body

        obj = parse_json_body(raw)
        self.rec.body = obj
        if isinstance(obj, dict) and not obj.get("choices") and "error" not in obj:
            raise Malformed(f"no choices in {raw[:200].decode(errors='replace')!r}")
        self.event(obj, now)
        message = obj["choices"][0].get("message") if obj.get("choices") else None
        if isinstance(message, dict) and message.get("tool_calls") is not None:
            calls = message["tool_calls"]
            self.raw_calls = calls if isinstance(calls, list) else [calls]  # the scorer judges them unrepaired

    def reply(self) -> Reply:
        calls = self.raw_calls if self.raw_calls is not None else [self.calls[i] for i in sorted(self.calls)]
        return Reply(content="".join(self.text) if self.text or not calls else None,
                     reasoning="".join(self.reasoning) if self.reasoning else None,
                     tool_calls=calls, finish_reason=self.finish_reason, usage=self.usage)

    def finish(self) -> RequestRecord:
        """Copy the accumulated state into the record; derive OSL, flags and cache counts."""
        rec = self.rec
        try:
            self._finish_counts(rec)
        except Malformed as exc:
            self.error, self.error_kind = self.error or f"malformed stream: {exc}", self.error_kind or "malformed"
        rec.error = rec.error or self.error
        rec.error_kind = rec.error_kind or self.error_kind
        if rec.error is None and rec.streamed and not rec.saw_done and rec.finish_reason is None and rec.n_chunks:
            rec.error, rec.error_kind = "the stream ended before its finish_reason or [DONE] (cut off)", "http"
        if rec.error is None and rec.ttft_ns is None:
            rec.error = "stream ended without a token" if rec.streamed else "the reply has no token"
            rec.error_kind = "empty"
        return rec

    def _finish_counts(self, rec: RequestRecord) -> None:
        rec.ttfr_ns, rec.ttft_ns, rec.ttfo_ns = self.ttfr, self.ttft, self.ttfo
        rec.e2e_ns = self.last - self.start
        rec.token_chunk_ns = self.token_ns
        rec.n_chunks, rec.n_token_chunks, rec.n_reasoning_chunks = self.n_chunks, len(self.token_ns), self.n_reasoning
        rec.finish_reason, rec.server_timings = self.finish_reason, self.timings
        rec.reply = self.reply()
        rec.n_tool_calls = len(rec.reply.tool_calls)
        text = "".join(self.text)
        rec.output_chars, rec.output_head = len(text), text[:120]
        usage = self.usage or {}
        completion = _as_count(usage.get("completion_tokens"), "usage.completion_tokens")
        if completion is not None:
            rec.osl, rec.osl_source = completion, "usage"
            if (rec.streamed and rec.n_token_chunks
                    and abs(rec.osl - rec.n_token_chunks) > USAGE_MISMATCH_FRACTION * rec.n_token_chunks):
                rec.usage_mismatch = True
        elif self.error is None:
            rec.osl, rec.osl_source = rec.n_token_chunks, "chunks"
        rec.isl = _as_count(usage.get("prompt_tokens"), "usage.prompt_tokens")
        details = usage.get("prompt_tokens_details") or {}
        timings = self.timings or {}
        cached = _as_count(details.get("cached_tokens"), "cached_tokens") if isinstance(details, dict) else None
        if cached is None:
            cached = _as_count(timings.get("cache_n"), "timings.cache_n")
        rec.cached_tokens = cached
        rec.prompt_evaluated = _as_count(timings.get("prompt_n"), "timings.prompt_n")
        if rec.prompt_evaluated is None and rec.isl is not None and cached is not None:
            rec.prompt_evaluated = max(0, rec.isl - cached)
        cdetails = usage.get("completion_tokens_details") or {}
        if isinstance(cdetails, dict):
            rec.reasoning_tokens = _as_count(cdetails.get("reasoning_tokens"), "reasoning_tokens")
        if rec.requested_max_tokens and rec.osl is not None:
            tol = osl_tolerance(rec.requested_max_tokens)
            rec.osl_mismatch = abs(rec.osl - rec.requested_max_tokens) > tol
            rec.short = rec.enforced_length and rec.osl < rec.requested_max_tokens - tol


async def consume_sse(chunks: AsyncIterator[bytes], state: StreamState, clock: Callable[[], int]) -> None:
    """Split the byte stream into SSE `data:` lines; each event gets its read's arrival time."""
    buf = b""
    event = state.event
    async for raw in chunks:
        now = clock()
        buf += raw
        if b"\n" not in raw:
            continue
        lines = buf.split(b"\n")
        buf = lines.pop()
        for line in lines:
            _line(line, state, event, now)
    if buf.strip():
        _line(buf.strip(), state, event, clock())


def _line(line: bytes, state: StreamState, event: Callable[[Any, int], None], now: int) -> None:
    if not line.startswith(b"data:"):
        return  # comments (": ping"), event names, blank separators
    data = line[5:].strip()
    if data == b"[DONE]":
        state.last = now
        state.rec.saw_done = True
        return
    if not data:
        return
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:  # bad JSON, invalid UTF-8
        raise Malformed(f"event is not JSON ({exc})") from None
    event(obj, now)
