"""Streaming OpenAI-compatible client: one request in, one `RequestRecord` with ns timestamps out.

Works against `/v1/chat/completions` and `/v1/completions`. The transport is a parameter so unit
tests pass `httpx.MockTransport`; the clock is a parameter so they can pass a fake one. A failed
request is data (`error` set), never an exception.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Literal, Self

import httpx
from pydantic import BaseModel, Field

Api = Literal["chat", "completions"]

# A usage count and the client's chunk count may differ by this fraction before a request is flagged.
USAGE_MISMATCH_FRACTION = 0.10
# A request whose pooled connection turned out closed before any response byte is sent again this often.
STALE_CONNECTION_RETRIES = 2
_STALE_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ConnectError)


def osl_tolerance(requested: int) -> int:
    """Allowed |actual − requested| output tokens: min(5% × requested, 50) (AIPerf's OSL-mismatch rule)."""
    return int(min(0.05 * requested, 50))


class RequestRecord(BaseModel):
    """Everything measured about one streamed request. Times are integer ns from `start_ns`."""

    api: Api = "chat"
    started_at: float = Field(description="wall clock (epoch s) when the request was sent")
    start_ns: int = Field(description="client clock at send; all *_ns offsets are relative to it")
    requested_max_tokens: int | None = None
    enforced_length: bool = False
    status_code: int | None = None
    error: str | None = None
    ttfr_ns: int | None = Field(None, description="first response chunk, whatever it carries")
    ttft_ns: int | None = Field(None, description="first chunk carrying a token (content, reasoning or tool call)")
    ttfo_ns: int | None = Field(None, description="first content / tool-call (non-reasoning) token")
    e2e_ns: int | None = Field(None, description="last byte of the response")
    token_chunk_ns: list[int] = Field(default_factory=list, description="arrival offset of each token chunk")
    n_chunks: int = 0
    n_token_chunks: int = 0
    n_reasoning_chunks: int = 0
    osl: int | None = Field(None, description="output tokens (reasoning included): usage, else chunk count")
    osl_source: Literal["usage", "chunks"] | None = None
    isl: int | None = Field(None, description="prompt tokens from usage")
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    usage_mismatch: bool = False
    osl_mismatch: bool = False
    short: bool = Field(False, description="output shorter than requested beyond tolerance: not averaged in")
    finish_reason: str | None = None
    server_timings: dict[str, Any] | None = Field(None, description="llama.cpp `timings` block when sent")
    output_chars: int = 0
    output_head: str = ""
    attempts: int = Field(1, description="> 1 when a stale keep-alive connection made the client resend")
    stale_connection: bool = Field(False, exclude=True)

    @property
    def ok(self) -> bool:
        """Completed without error."""
        return self.error is None

    @property
    def valid(self) -> bool:
        """Completed, with the requested length (or no length was requested) — counts in averages."""
        return self.error is None and not self.short and self.osl is not None

    @property
    def server_decode_tok_s(self) -> float | None:
        """The engine's own decode rate for this request (llama.cpp `timings.predicted_per_second`)."""
        if self.server_timings and self.server_timings.get("predicted_per_second"):
            return float(self.server_timings["predicted_per_second"])
        return None


def build_payload(model: str, *, api: Api = "chat", messages: list[dict] | None = None, prompt: str | None = None,
                  max_tokens: int = 256, enforce_length: bool = True, temperature: float = 0.0,
                  extra_body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body: streaming with usage; `ignore_eos` + `min_tokens` pin the output length."""
    body: dict[str, Any] = {"model": model, "stream": True, "stream_options": {"include_usage": True},
                            "max_tokens": max_tokens, "temperature": temperature}
    if api == "chat":
        body["messages"] = messages if messages is not None else [{"role": "user", "content": prompt or ""}]
    else:
        body["prompt"] = prompt if prompt is not None else "\n".join(str(m.get("content", "")) for m in messages or [])
    if enforce_length:
        body["ignore_eos"] = True          # llama.cpp, vLLM, SGLang
        body["min_tokens"] = max_tokens    # vLLM, SGLang (llama.cpp ignores it)
    if extra_body:
        body.update(extra_body)
    return body


class _Stream:
    """Accumulates one response's SSE events in plain slots (hot path: no pydantic per event)."""

    __slots__ = (
        "chat",
        "error",
        "finish_reason",
        "last",
        "n_chunks",
        "n_reasoning",
        "rec",
        "start",
        "text",
        "timings",
        "token_ns",
        "ttfo",
        "ttfr",
        "ttft",
        "usage",
    )

    def __init__(self, rec: RequestRecord, chat: bool) -> None:
        self.rec, self.start, self.last = rec, rec.start_ns, rec.start_ns
        self.text: list[str] = []
        self.usage: dict | None = None
        self.chat = chat
        self.ttfr = self.ttft = self.ttfo = None
        self.n_chunks = self.n_reasoning = 0
        self.token_ns: list[int] = []
        self.finish_reason = self.timings = self.error = None

    def event(self, obj: dict, now: int) -> None:
        """Account one SSE event that arrived at `now`."""
        self.n_chunks += 1
        off = now - self.start
        if self.ttfr is None:
            self.ttfr = off
        choices = obj.get("choices")
        if choices:
            choice = choices[0]
            reasoning = None
            if self.chat:
                delta = choice.get("delta") or {}
                content = delta.get("content") or delta.get("tool_calls")
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            else:
                content = choice.get("text")
            if content or reasoning:
                self.token_ns.append(off)
                if self.ttft is None:
                    self.ttft = off
                if reasoning:
                    self.n_reasoning += 1
                if content:
                    if self.ttfo is None:
                        self.ttfo = off
                    if content.__class__ is str:
                        self.text.append(content)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        elif "error" in obj:
            err = obj["error"]
            self.error = err.get("message", str(err)) if isinstance(err, dict) else str(err)
        usage = obj.get("usage")
        if usage:
            self.usage = usage
        timings = obj.get("timings")
        if timings:
            self.timings = timings
        self.last = now

    def finish(self) -> RequestRecord:
        """Copy the accumulated state into the record; derive OSL, flags and cache counts."""
        rec = self.rec
        rec.error = rec.error or self.error
        rec.ttfr_ns, rec.ttft_ns, rec.ttfo_ns = self.ttfr, self.ttft, self.ttfo
        rec.e2e_ns = self.last - self.start
        rec.token_chunk_ns = self.token_ns
        rec.n_chunks, rec.n_token_chunks, rec.n_reasoning_chunks = self.n_chunks, len(self.token_ns), self.n_reasoning
        rec.finish_reason, rec.server_timings = self.finish_reason, self.timings
        text = "".join(self.text)
        rec.output_chars, rec.output_head = len(text), text[:120]
        usage = self.usage or {}
        if usage.get("completion_tokens") is not None:
            rec.osl, rec.osl_source = int(usage["completion_tokens"]), "usage"
            if rec.n_token_chunks and abs(rec.osl - rec.n_token_chunks) > USAGE_MISMATCH_FRACTION * rec.n_token_chunks:
                rec.usage_mismatch = True
        elif rec.error is None:
            rec.osl, rec.osl_source = rec.n_token_chunks, "chunks"
        if usage.get("prompt_tokens") is not None:
            rec.isl = int(usage["prompt_tokens"])
        details = usage.get("prompt_tokens_details") or {}
        if details.get("cached_tokens") is not None:
            rec.cached_tokens = int(details["cached_tokens"])
        elif rec.server_timings and rec.server_timings.get("cache_n") is not None:
            rec.cached_tokens = int(rec.server_timings["cache_n"])
        cdetails = usage.get("completion_tokens_details") or {}
        if cdetails.get("reasoning_tokens") is not None:
            rec.reasoning_tokens = int(cdetails["reasoning_tokens"])
        if rec.requested_max_tokens and rec.osl is not None:
            tol = osl_tolerance(rec.requested_max_tokens)
            rec.osl_mismatch = abs(rec.osl - rec.requested_max_tokens) > tol
            rec.short = rec.enforced_length and rec.osl < rec.requested_max_tokens - tol
        if rec.error is None and rec.ttft_ns is None:
            rec.error = "stream ended without a token"
        return rec


class StreamClient:
    """An async streaming client for one endpoint + model. Use as `async with StreamClient(...) as c:`."""

    def __init__(self, base_url: str, model: str, *, api: Api = "chat", transport: httpx.AsyncBaseTransport | None = None,
                 timeout_s: float = 600.0, clock: Callable[[], int] = time.perf_counter_ns,
                 headers: dict[str, str] | None = None, max_connections: int = 256) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api = api
        self.clock = clock
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._enforce_ok = True
        self._http = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(timeout_s, connect=10.0),
                                       headers=headers, limits=limits)

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying httpx client (same transport), for side requests like `/props`."""
        return self._http

    @property
    def url(self) -> str:
        """The completions endpoint this client streams from."""
        return f"{self.base_url}/{'chat/completions' if self.api == 'chat' else 'completions'}"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def stream(self, *, messages: list[dict] | None = None, prompt: str | None = None, max_tokens: int = 256,
                     enforce_length: bool = True, extra_body: dict[str, Any] | None = None) -> RequestRecord:
        """Send one streaming request and time every chunk; errors come back inside the record.

        An engine that rejects the length-pinning fields (HTTP 400/422 naming them) is asked once
        more without them; that record then says `enforced_length=False`.
        """
        rec = await self._stream_once(messages, prompt, max_tokens, enforce_length and self._enforce_ok, extra_body)
        for attempt in range(2, 2 + STALE_CONNECTION_RETRIES):
            if not rec.stale_connection:
                break
            # the server closed a pooled keep-alive connection as we reused it (llama-server's
            # cpp-httplib does this): no byte came back, so the request never ran; send it again
            rec = await self._stream_once(messages, prompt, max_tokens, rec.enforced_length, extra_body)
            rec.attempts = attempt
        if rec.enforced_length and rec.status_code in (400, 422) and _rejects_length_fields(rec.error):
            self._enforce_ok = False  # remembered: no point sending them again to this endpoint
            rec = await self._stream_once(messages, prompt, max_tokens, False, extra_body)
        return rec

    async def _stream_once(self, messages: list[dict] | None, prompt: str | None, max_tokens: int,
                           enforce_length: bool, extra_body: dict[str, Any] | None) -> RequestRecord:
        body = build_payload(self.model, api=self.api, messages=messages, prompt=prompt, max_tokens=max_tokens,
                             enforce_length=enforce_length, extra_body=extra_body)
        clock = self.clock
        rec = RequestRecord(api=self.api, started_at=time.time(), start_ns=clock(), requested_max_tokens=max_tokens,
                            enforced_length=enforce_length)
        state = _Stream(rec, self.api == "chat")
        try:
            async with self._http.stream("POST", self.url, json=body) as resp:
                rec.status_code = resp.status_code
                if resp.status_code != 200:
                    raw = await resp.aread()
                    rec.error = f"HTTP {resp.status_code}: {raw[:300].decode(errors='replace')}"
                    state.last = clock()
                    return state.finish()
                await _consume_sse(resp, state, clock)
        except httpx.HTTPError as exc:
            rec.error = f"{type(exc).__name__}: {exc}"
            rec.stale_connection = rec.status_code is None and isinstance(exc, _STALE_ERRORS)
            state.last = clock()
        except json.JSONDecodeError as exc:
            rec.error = f"malformed SSE event: {exc}"
            state.last = clock()
        return state.finish()


def _rejects_length_fields(error: str | None) -> bool:
    text = (error or "").lower()
    return any(key in text for key in ("ignore_eos", "min_tokens", "extra_forbidden", "extra inputs", "unrecognized"))


async def _consume_sse(resp: httpx.Response, state: _Stream, clock: Callable[[], int]) -> None:
    """Split the byte stream into SSE `data:` lines; each event gets its read's arrival time."""
    buf = b""
    loads = json.loads
    event = state.event
    async for raw in resp.aiter_bytes():
        now = clock()
        buf += raw
        if b"\n" not in raw:
            continue
        lines = buf.split(b"\n")
        buf = lines.pop()
        for line in lines:
            if not line.startswith(b"data:"):
                continue  # comments (": ping"), event names, blank separators
            data = line[5:].strip()
            if data == b"[DONE]":
                state.last = now
                continue
            if data:
                event(loads(data), now)
    if buf.strip().startswith(b"data:"):  # last event without a trailing newline
        data = buf.strip()[5:].strip()
        if data and data != b"[DONE]":
            event(loads(data), clock())
