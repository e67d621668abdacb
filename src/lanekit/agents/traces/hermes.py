"""Parse `hermes sessions export` JSONL (hermes-agent 0.19) into `AgentRun`s.

Public entry points:
    parse_sessions_export(source) -> (list[AgentRun], list[SkippedLine])
    session_to_run(session, tool_schemas=None) -> AgentRun
    hermes_tool_schemas(toolsets=None) -> {tool name: JSON-schema parameters}

One JSON object per line: session metadata (id, source, model, started_at, ended_at,
input_tokens, output_tokens, api_call_count, ...) plus `messages[]` in OpenAI shape — assistant
`tool_calls` (a list, or a JSON string), `role: tool` results, `reasoning` / `reasoning_content`,
per-message `finish_reason` and `timestamp`. A line that is not such an object is reported with
its line number and skipped; the other lines are still parsed.

Hermes retries invalid-JSON tool calls without persisting them, so a session can hide failed
attempts; when `api_call_count` exceeds the assistant turns on record the run carries a note.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lanekit.agents.trace import AgentRun, Turn

# Built-in tool → Hermes tools that do the same job (for the "expected tool used" rate).
HERMES_TOOL_EQUIVALENTS: dict[str, tuple[str, ...]] = {
    "read_file": ("read_file", "terminal"),
    "write_file": ("write_file", "patch", "terminal"),
    "list_dir": ("search_files", "terminal"),
    "search": ("search_files", "terminal"),
    "run_shell": ("terminal",),
    "calculator": ("terminal", "execute_code"),
}


class SkippedLine(BaseModel):
    """A line of the export that could not be read as a session."""

    line: int
    reason: str


@lru_cache(maxsize=1)
def _snapshot() -> dict[str, Any]:
    data = resources.files("lanekit.agents.traces").joinpath("hermes_tools.json").read_text()
    return json.loads(data)


def hermes_tool_schemas(toolsets: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Parameter schemas of Hermes' tools (snapshot of hermes-agent 0.19.0's registry).

    With `toolsets`, only the tools those toolsets expose (what `hermes -t a,b` offers);
    without, every registered tool (any of them is a known name in an arbitrary export).
    """
    snap = _snapshot()
    if toolsets is None:
        return dict(snap["schemas"])
    names = {name for ts in toolsets for name in snap["toolsets"].get(ts, [])}
    return {name: snap["schemas"][name] for name in sorted(names)}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in value)
    return str(value)


def _tool_calls(raw: Any, notes: list[str], where: str) -> list[Any]:
    """Tool calls as a list; a JSON-string field is decoded, flat {name, arguments} wrapped."""
    if raw is None or raw == "" or raw == []:
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            notes.append(f"{where}: tool_calls is not valid JSON; kept as one unreadable call")
            return [raw]
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        return [raw]
    calls = []
    for call in raw:
        if isinstance(call, dict) and "function" not in call and "name" in call:
            call = {"id": call.get("id"), "type": "function",
                    "function": {"name": call.get("name"), "arguments": call.get("arguments")}}
        calls.append(call)
    return calls


def session_to_run(session: dict[str, Any], tool_schemas: dict[str, dict[str, Any]] | None = None,
                   fallback_id: str = "session") -> AgentRun:
    """One exported Hermes session as an AgentRun (tool schemas default to the full snapshot)."""
    raw_messages = session.get("messages")
    if not isinstance(raw_messages, list):
        raise TypeError("session has no messages list")
    notes: list[str] = []
    messages: list[dict[str, Any]] = []
    turns: list[Turn] = []
    prompt: str | None = None
    prev_ts: float | None = None
    for i, msg in enumerate(raw_messages):
        if not isinstance(msg, dict):
            notes.append(f"messages[{i}] is not an object; skipped")
            continue
        role = msg.get("role")
        content = _text(msg.get("content"))
        ts = msg.get("timestamp") if isinstance(msg.get("timestamp"), (int, float)) else None
        entry: dict[str, Any] = {"role": role, "content": content}
        if role == "user" and prompt is None:
            prompt = content
        if role == "tool":
            entry["tool_call_id"] = msg.get("tool_call_id")
            entry["name"] = msg.get("tool_name") or msg.get("name")
        if role == "assistant":
            calls = _tool_calls(msg.get("tool_calls"), notes, f"messages[{i}]")
            reasoning = _text(msg.get("reasoning") or msg.get("reasoning_content"))
            entry["tool_calls"] = calls
            turns.append(Turn(index=len(turns), content=content, reasoning=reasoning, tool_calls=calls,
                              finish_reason=msg.get("finish_reason"), completion_tokens=msg.get("token_count"),
                              latency_ns=int((ts - prev_ts) * 1e9) if ts is not None and prev_ts is not None else None))
        messages.append(entry)
        prev_ts = ts if ts is not None else prev_ts
    last = messages[-1] if messages else None
    final: str | None = None
    if not turns:
        stop = "empty"
    elif turns[-1].finish_reason == "length":
        stop, final = "length", turns[-1].content
    elif last is not None and last["role"] == "assistant" and not last.get("tool_calls"):
        final = (last.get("content") or "").strip() or None
        stop = "answered" if final else "empty"
    else:
        stop = "incomplete"
        notes.append(f"session ended without a final answer (last message role: {last['role'] if last else None})")
    api_calls = session.get("api_call_count")
    if isinstance(api_calls, int) and api_calls > len(turns):
        notes.append(f"api_call_count={api_calls} but {len(turns)} assistant turns on record: "
                     "Hermes retried calls it did not persist (e.g. invalid JSON arguments)")
    started, ended = session.get("started_at"), session.get("ended_at")
    wall_ns = int((ended - started) * 1e9) if isinstance(started, (int, float)) and isinstance(ended, (int, float)) else 0
    return AgentRun(
        id=str(session.get("id") or fallback_id), source="hermes", model=session.get("model"),
        prompt=prompt, messages=messages, turns=turns, final_answer=final, stop_reason=stop,
        tool_schemas=tool_schemas if tool_schemas is not None else hermes_tool_schemas(),
        prompt_tokens=int(session.get("input_tokens") or 0), completion_tokens=int(session.get("output_tokens") or 0),
        started_at=started if isinstance(started, (int, float)) else None, wall_ns=max(0, wall_ns), notes=notes)


def parse_sessions_export(source: str | Path | Iterable[str],
                          tool_schemas: dict[str, dict[str, Any]] | None = None,
                          ) -> tuple[list[AgentRun], list[SkippedLine]]:
    """Every readable session in a JSONL export (a path, or an iterable of lines); bad lines are
    returned as SkippedLine(line, reason) and do not stop the rest from being read."""
    if isinstance(source, (str, Path)):
        lines: Iterable[str] = Path(source).read_text(encoding="utf-8", errors="replace").splitlines()
    else:
        lines = source
    runs: list[AgentRun] = []
    skipped: list[SkippedLine] = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            skipped.append(SkippedLine(line=lineno, reason=f"not valid JSON: {exc.msg} (column {exc.colno})"))
            continue
        except RecursionError:
            skipped.append(SkippedLine(line=lineno, reason="nested deeper than a session can be"))
            continue
        if not isinstance(obj, dict):
            skipped.append(SkippedLine(line=lineno, reason=f"expected a session object, got a JSON {type(obj).__name__}"))
            continue
        try:
            runs.append(session_to_run(obj, tool_schemas, fallback_id=f"line-{lineno}"))
        except (ValueError, TypeError) as exc:
            skipped.append(SkippedLine(line=lineno, reason=f"not a Hermes session: {exc}"))
        except RecursionError:
            skipped.append(SkippedLine(line=lineno, reason="nested deeper than a session can be"))
    return runs, skipped
