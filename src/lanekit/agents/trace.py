"""`AgentRun`: the trace of one agent attempt at one task, whoever drove it (built-in loop, Hermes).

Every assistant response becomes a `Turn` holding what the model sent, raw: content, reasoning,
tool calls exactly as received (arguments unparsed), finish_reason, tokens, latency. Times are
integer nanoseconds. The scorer reads only this shape, so any harness that can fill it is scored
the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TRACE_SCHEMA_VERSION = 1

StopReason = Literal["answered", "length", "empty", "incomplete", "max_turns", "timeout", "error"]


class Turn(BaseModel):
    """One assistant response."""

    model_config = ConfigDict(extra="allow")

    index: int
    content: str | None = None
    reasoning: str | None = None
    tool_calls: list[Any] = Field(default_factory=list, description="raw, as the endpoint sent them")
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ns: int | None = None
    ttft_ns: int | None = Field(None, description="first token of a streamed reply")
    started_ns: int | None = Field(None, description="when the request was sent, from the run's start "
                                                     "(the gap to the previous reply is the agent's own time)")


class AgentRun(BaseModel):
    """One agent run on one task.

    `stop_reason`: answered (final text, no pending call), length (cut off by the token limit),
    empty (nothing came back), incomplete (the harness stopped without a final answer),
    max_turns, timeout (per-task wall clock), error (transport or
    harness failure; `error` says what). `tool_schemas` are the tools the agent was offered
    (name → JSON-schema parameters); None means unknown, and the scorer then skips the
    unknown-tool and schema checks. `artifacts` hold the workspace files the task's file checks
    read, captured before the workspace was removed.
    """

    model_config = ConfigDict(extra="allow")

    schema_version: int = TRACE_SCHEMA_VERSION
    id: str
    source: str = "builtin"
    harness_version: str | None = None
    task_id: str | None = None
    repeat: int = 0
    model: str | None = None
    base_url: str | None = None
    battery: str | None = None
    battery_sha256: str | None = None
    prompt: str | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list)
    turns: list[Turn] = Field(default_factory=list)
    final_answer: str | None = None
    stop_reason: StopReason | None = None
    error: str | None = None
    tool_schemas: dict[str, dict[str, Any]] | None = None
    artifacts: dict[str, str | None] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started_at: float | None = None
    wall_ns: int = 0
    notes: list[str] = Field(default_factory=list)
    endpoint_gone: str | None = Field(None, description="the engine died or hung during this run (why)")

    @property
    def n_tool_calls(self) -> int:
        """Structured tool calls the model sent, well-formed or not."""
        return sum(len(t.tool_calls) for t in self.turns)
