"""The requests an exported Hermes session sent, as trace records (`agents.traces.workload`).

Hermes (0.19) stores its system-prompt snapshot on the session and each message with the time it
was stored; the bytes it sent where they differed (`api_content`); tool calls as {name, arguments}
whose ids only the tool results keep. The tools it sent are not exported: they come from lanekit's
snapshot of Hermes' own tool definitions (`hermes_tool_defs.json`, descriptions included) for the
task's toolsets, or for the toolsets that offer the tools the session called.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from lanekit.agents.traces.workload import TraceMeta, TraceRequest, clean_message, seconds_to_ms
from lanekit.errors import ConfigError


@lru_cache(maxsize=1)
def _hermes_defs() -> dict[str, list[dict[str, Any]]]:
    text = resources.files("lanekit.agents.traces").joinpath("hermes_tool_defs.json").read_text()
    return json.loads(text)["toolsets"]


def hermes_tools(toolsets: list[str]) -> list[dict[str, Any]]:
    """The tool definitions Hermes 0.19.0 sends for `-t TOOLSETS` (snapshot with descriptions)."""
    defs = _hermes_defs()
    unknown = [t for t in toolsets if t not in defs]
    if unknown:
        raise ConfigError(
            f"no Hermes tool definitions recorded for toolset(s) {', '.join(unknown)}",
            fix=f"use toolsets {', '.join(sorted(defs))} (lanekit's snapshot of hermes-agent 0.19.0)",
        )
    seen: dict[str, dict[str, Any]] = {}
    for ts in toolsets:
        for tool in defs[ts]:
            seen.setdefault(tool["function"]["name"], tool)
    return [seen[n] for n in sorted(seen)]


def _toolsets_for(called: set[str]) -> list[str]:
    """The fewest snapshot toolsets that offer every called tool (file when nothing was called)."""
    defs = {ts: {t["function"]["name"] for t in tools} for ts, tools in _hermes_defs().items()}
    chosen = [ts for ts in sorted(defs) if called & defs[ts]]
    return chosen or ["file"]


def _hermes_calls(raw: Any, following: list[dict[str, Any]], turn: int) -> list[dict[str, Any]]:
    """Hermes stores calls as a list (or JSON string) of {name, arguments} or OpenAI objects; the
    request carried OpenAI objects whose ids the tool results name, so ids come from those."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raw = []
    calls = raw if isinstance(raw, list) else ([raw] if isinstance(raw, dict) else [])
    result_ids = [m.get("tool_call_id") for m in following]
    out = []
    for i, call in enumerate(calls):
        if not isinstance(call, dict):
            continue
        fn = call.get("function") if isinstance(call.get("function"), dict) else call
        args = fn.get("arguments")
        cid = call.get("id") or (result_ids[i] if i < len(result_ids) else None) or f"call_{turn}_{i}"
        out.append(
            {
                "id": cid,
                "type": "function",
                "function": {
                    "name": fn.get("name") or "",
                    "arguments": args if isinstance(args, str) else json.dumps(args or {}),
                },
            }
        )
    return out


def from_hermes_session(
    session: dict[str, Any],
    toolsets: list[str] | None = None,
    t0: float | None = None,
    max_tokens: int | None = None,
    task_id: str | None = None,
) -> list[TraceRequest]:
    """The requests one exported Hermes session sent: Hermes' system-prompt snapshot, then the
    stored messages (the bytes sent where Hermes kept them, `api_content`). A request was sent when
    the message before its reply was stored; its delay is that time minus the previous reply's."""
    raw = session.get("messages")
    if not isinstance(raw, list):
        raise ConfigError(
            "a Hermes session without a messages list", fix="pass a `hermes sessions export` file"
        )
    msgs = [
        m for m in raw if isinstance(m, dict) and m.get("role") in ("user", "assistant", "tool", "system")
    ]
    called = {
        c.get("name") or (c.get("function") or {}).get("name")
        for m in msgs
        if m.get("role") == "assistant"
        for c in _as_list(m.get("tool_calls"))
        if isinstance(c, dict)
    }
    tools = hermes_tools(toolsets or _toolsets_for({c for c in called if c}))
    history: list[dict[str, Any]] = []
    if session.get("system_prompt"):
        history.append({"role": "system", "content": session["system_prompt"]})
    out: list[TraceRequest] = []
    started = session.get("started_at") if isinstance(session.get("started_at"), (int, float)) else None
    prev_end: float | None = None
    sent_at = started
    for i, msg in enumerate(msgs):
        ts = msg.get("timestamp") if isinstance(msg.get("timestamp"), (int, float)) else None
        if msg.get("role") != "assistant":
            entry = {"role": msg["role"], "content": msg.get("api_content") or msg.get("content") or ""}
            if msg["role"] == "tool":
                entry["tool_call_id"] = msg.get("tool_call_id")
            history.append(clean_message(entry))
            sent_at = ts if ts is not None else sent_at
            continue
        k = len(out)
        following = []
        for nxt in msgs[i + 1 :]:
            if nxt.get("role") != "tool":
                break
            following.append(nxt)
        reply: dict[str, Any] = {
            "role": "assistant",
            "content": msg.get("api_content") or msg.get("content") or "",
        }
        calls = _hermes_calls(msg.get("tool_calls"), following, k)
        if calls:
            reply["tool_calls"] = calls
        delay = (
            seconds_to_ms(sent_at - prev_end) if k and sent_at is not None and prev_end is not None else None
        )
        stamp = seconds_to_ms(sent_at - t0) if k == 0 and sent_at is not None and t0 is not None else None
        out.append(
            TraceRequest(
                session_id=str(session.get("id") or "session"),
                messages=list(history),
                tools=tools,
                output_length=msg.get("token_count") if isinstance(msg.get("token_count"), int) else None,
                timestamp=stamp,
                delay=delay,
                lanekit=TraceMeta(
                    turn=k,
                    source="hermes",
                    task_id=task_id,
                    max_tokens=max_tokens,
                    finish_reason=msg.get("finish_reason"),
                    reply=reply,
                    latency_ms=seconds_to_ms(ts - sent_at)
                    if ts is not None and sent_at is not None
                    else None,
                ),
            )
        )
        history.append(reply)
        prev_end = ts if ts is not None else prev_end
    return out


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    return value if isinstance(value, list) else ([value] if isinstance(value, dict) else [])


__all__ = ["from_hermes_session", "hermes_tools"]
