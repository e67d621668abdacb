"""What one request to an endpoint produced: its timing (`RequestRecord`, integer ns from send) and
the reply assembled from it (`Reply`: content, reasoning, tool calls, finish reason, usage).

The same record comes back whether the request streamed or not; a failed request is data
(`error` set), never an exception.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Api = Literal["chat", "completions"]

# A usage count and the client's chunk count may differ by this fraction before a request is flagged.
USAGE_MISMATCH_FRACTION = 0.10


def osl_tolerance(requested: int) -> int:
    """Allowed |actual − requested| output tokens: min(5% × requested, 50) (AIPerf's OSL-mismatch rule)."""
    return int(min(0.05 * requested, 50))


class Reply(BaseModel):
    """The assistant message as the harness would see it, streamed deltas assembled."""

    content: str | None = None
    reasoning: str | None = None
    tool_calls: list[Any] = Field(default_factory=list,
                                  description="OpenAI shape {id, type, function: {name, arguments}}: streamed "
                                              "deltas assembled; a whole response's calls exactly as sent")
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None

    def message(self) -> dict[str, Any]:
        """The reply as an OpenAI `choices[0].message` object."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.reasoning is not None:
            msg["reasoning_content"] = self.reasoning
        if self.tool_calls:
            msg["tool_calls"] = self.tool_calls
        return msg


class RequestRecord(BaseModel):
    """Everything measured about one request. Times are integer ns from `start_ns`."""

    api: Api = "chat"
    streamed: bool = True
    started_at: float = Field(description="wall clock (epoch s) when the request was sent")
    start_ns: int = Field(description="client clock at send; all *_ns offsets are relative to it")
    requested_max_tokens: int | None = None
    enforced_length: bool = False
    status_code: int | None = None
    error: str | None = None
    error_kind: Literal["http", "connect", "timeout", "malformed", "server", "empty"] | None = None
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
    prompt_evaluated: int | None = Field(None, description="prompt tokens the server really evaluated "
                                                           "(llama.cpp timings.prompt_n): isl − cached")
    reasoning_tokens: int | None = None
    usage_mismatch: bool = False
    osl_mismatch: bool = False
    short: bool = Field(False, description="output shorter than requested beyond tolerance: not averaged in")
    finish_reason: str | None = None
    server_timings: dict[str, Any] | None = Field(None, description="llama.cpp `timings` block when sent")
    output_chars: int = 0
    output_head: str = ""
    n_tool_calls: int = 0
    attempts: int = Field(1, description="> 1 when a stale keep-alive connection made the client resend")
    stale_connection: bool = Field(False, exclude=True)
    saw_done: bool = Field(False, description="the stream ended with `data: [DONE]`")
    reply: Reply | None = Field(None, exclude=True, description="the assembled message (not stored with samples)")
    body: Any = Field(None, exclude=True, description="the parsed JSON body (whole responses and HTTP errors)")
    body_text: str = Field("", exclude=True, description="an HTTP error's body text (first 2,000 characters)")

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
        value = (self.server_timings or {}).get("predicted_per_second")
        return float(value) if isinstance(value, (int, float)) and value > 0 else None

    @property
    def server_prefill_tok_s(self) -> float | None:
        """The engine's own prompt-processing rate (llama.cpp `timings.prompt_per_second`)."""
        value = (self.server_timings or {}).get("prompt_per_second")
        return float(value) if isinstance(value, (int, float)) and value > 0 else None
