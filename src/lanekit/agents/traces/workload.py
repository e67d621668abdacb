"""Agent traces as a replayable workload: one record per request an agent sent, in AIPerf's
`mooncake_trace` JSONL shape, so the same file drives `lanekit bench --replay` and `aiperf profile
--custom-dataset-type mooncake_trace`.

Public entry points:
    from_agent_run(run) -> list[TraceRequest]          # lanekit's own AgentRun (built-in loop)
    from_hermes_session(session, toolsets=None) -> list[TraceRequest]   # one `hermes sessions export` line
    convert_runs(path, battery=None) -> (Trace, notes)  # a JSONL of either kind
    read_trace(path) -> Trace; write_trace(trace, path, mode="history"|"delta")

A record holds AIPerf's fields — `session_id`, `messages` (as sent: system prompt, growing history,
tool results), `tools`, `output_length` (tokens the recorded reply had), `timestamp` (ms from the
trace's start, on a session's first request) or `delay` (ms the agent spent between the previous
reply's end and this request: tool runs, harness work), `message_mode` — plus one `lanekit`
object AIPerf ignores (turn, recorded reply, output cap, latency). History mode (the default)
writes each request's full messages; delta mode writes only the new messages per request (AIPerf's
`message_mode: delta`), and lanekit keeps the recorded reply beside them so a delta file still
replays verbatim.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lanekit.agents.trace import AgentRun
from lanekit.errors import ConfigError

TRACE_FORMAT = "mooncake_trace"
MessageMode = Literal["history", "delta"]
_MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")


class TraceMeta(BaseModel):
    """lanekit's side of a record (AIPerf ignores unknown keys)."""

    model_config = ConfigDict(extra="allow")

    turn: int = 0
    source: str | None = None
    task_id: str | None = None
    max_tokens: int | None = Field(None, description="the output cap the harness sent")
    prompt_tokens: int | None = Field(None, description="prompt tokens the recorded server counted")
    latency_ms: float | None = Field(None, description="recorded send-to-last-byte time")
    finish_reason: str | None = None
    reply: dict[str, Any] | None = Field(None, description="the recorded assistant message")


class TraceRequest(BaseModel):
    """One request of a trace (one JSONL line)."""

    model_config = ConfigDict(extra="allow")  # other AIPerf fields survive a round trip

    session_id: str
    message_mode: MessageMode | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    output_length: int | None = Field(None, ge=0)
    timestamp: float | None = Field(None, ge=0, description="ms from the trace's start (a session's first request)")
    delay: float | None = Field(None, ge=0, description="ms between the previous reply's end and this request")
    lanekit: TraceMeta | None = None


class Trace(BaseModel):
    """A whole trace in history form (every request's full messages), sessions in file order."""

    requests: list[TraceRequest]
    source: str = ""
    sha256: str = ""

    def sessions(self) -> list[list[TraceRequest]]:
        """Requests grouped by session, each in order; sessions in order of first appearance."""
        groups: dict[str, list[TraceRequest]] = {}
        for req in self.requests:
            groups.setdefault(req.session_id, []).append(req)
        return list(groups.values())

    def extends_previous(self) -> tuple[int, int]:
        """(requests whose messages start with the previous request's messages plus its reply,
        requests after a session's first) — how much of each prompt a prefix cache can reuse."""
        hits = total = 0
        for session in self.sessions():
            for prev, cur in zip(session, session[1:]):
                total += 1
                head = prev.messages + [_reply_of(prev, cur)]
                hits += cur.messages[:len(head)] == head
        return hits, total


def describe(trace: Trace) -> dict[str, Any]:
    """What a trace holds (`lanekit trace show --json`): sessions, requests, lengths, delays."""
    from statistics import median

    delays = [r.delay for r in trace.requests if r.delay is not None]
    outs = [r.output_length for r in trace.requests if r.output_length is not None]
    hits, total = trace.extends_previous()
    sessions = trace.sessions()
    return {"format": TRACE_FORMAT, "source": trace.source, "sha256": trace.sha256, "sessions": len(sessions),
            "requests": len(trace.requests), "max_requests_per_session": max(len(s) for s in sessions),
            "prompt_chars_max": max(sum(len(json.dumps(m)) for m in r.messages) for r in trace.requests),
            "tools": sorted({t.get("function", {}).get("name", "") for r in trace.requests for t in r.tools or []}),
            "output_tokens": sum(outs), "output_tokens_median": median(outs) if outs else None,
            "delay_ms_median": round(median(delays), 1) if delays else None,
            "delay_s_total": round(sum(delays) / 1000, 3), "requests_with_delay": len(delays),
            "extend_previous": hits, "later_requests": total,
            "harness": sorted({r.lanekit.source for r in trace.requests if r.lanekit and r.lanekit.source})}


def _reply_of(prev: TraceRequest, cur: TraceRequest) -> dict[str, Any]:
    return cur.messages[len(prev.messages)] if len(cur.messages) > len(prev.messages) else {}


def _clean(msg: dict[str, Any]) -> dict[str, Any]:
    """A message as an OpenAI request carries it (no timestamps, ids of rows, reasoning blobs)."""
    return {k: msg[k] for k in _MESSAGE_KEYS if k in msg and msg[k] is not None}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(max(0.0, seconds) * 1000.0, 3)


# -- lanekit's own runs ------------------------------------------------------------------------
def from_agent_run(run: AgentRun, tools: list[dict[str, Any]] | None = None, t0: float | None = None,
                   max_tokens: int | None = None) -> list[TraceRequest]:
    """The requests one AgentRun sent: request k's messages are the run's history up to its k-th
    assistant message. Delays come from each turn's send offset (runs recorded before lanekit
    kept one get none). `t0` (epoch s) anchors the session's `timestamp`."""
    from lanekit.agents.tools import TOOL_SPECS

    if tools is None and run.tool_schemas is not None:
        builtin = {s["function"]["name"] for s in TOOL_SPECS}
        tools = TOOL_SPECS if set(run.tool_schemas) == builtin else _tools_from_schemas(run.tool_schemas)
    positions = [i for i, m in enumerate(run.messages) if m.get("role") == "assistant"]
    out: list[TraceRequest] = []
    prev_end_ns: int | None = None
    for k, turn in enumerate(run.turns[:len(positions)]):
        sent_ns = getattr(turn, "started_ns", None)
        delay = None
        if k and sent_ns is not None and prev_end_ns is not None:
            delay = _ms((sent_ns - prev_end_ns) / 1e9)
        stamp = None
        if k == 0 and run.started_at is not None and t0 is not None:
            stamp = _ms(run.started_at - t0 + (sent_ns or 0) / 1e9)
        prev_end_ns = sent_ns + turn.latency_ns if sent_ns is not None and turn.latency_ns is not None else None
        reply = _clean(run.messages[positions[k]])
        out.append(TraceRequest(
            session_id=run.id, messages=[_clean(m) for m in run.messages[:positions[k]]], tools=tools or None,
            output_length=turn.completion_tokens, timestamp=stamp, delay=delay,
            lanekit=TraceMeta(turn=k, source=run.source, task_id=run.task_id, max_tokens=max_tokens,
                              prompt_tokens=turn.prompt_tokens, finish_reason=turn.finish_reason, reply=reply,
                              latency_ms=_ms(turn.latency_ns / 1e9) if turn.latency_ns is not None else None)))
    return out


def _tools_from_schemas(schemas: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": n, "parameters": p}} for n, p in sorted(schemas.items())]


# -- Hermes sessions ---------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _hermes_defs() -> dict[str, list[dict[str, Any]]]:
    text = resources.files("lanekit.agents.traces").joinpath("hermes_tool_defs.json").read_text()
    return json.loads(text)["toolsets"]


def hermes_tools(toolsets: list[str]) -> list[dict[str, Any]]:
    """The tool definitions Hermes 0.19.0 sends for `-t TOOLSETS` (snapshot with descriptions)."""
    defs = _hermes_defs()
    unknown = [t for t in toolsets if t not in defs]
    if unknown:
        raise ConfigError(f"no Hermes tool definitions recorded for toolset(s) {', '.join(unknown)}",
                          fix=f"use toolsets {', '.join(sorted(defs))} (lanekit's snapshot of hermes-agent 0.19.0)")
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
        out.append({"id": cid, "type": "function", "function": {
            "name": fn.get("name") or "", "arguments": args if isinstance(args, str) else json.dumps(args or {})}})
    return out


def from_hermes_session(session: dict[str, Any], toolsets: list[str] | None = None,
                        t0: float | None = None) -> list[TraceRequest]:
    """The requests one exported Hermes session sent: Hermes' system-prompt snapshot, then the
    stored messages (the bytes sent where Hermes kept them, `api_content`). A request was sent when
    the message before its reply was stored; its delay is that time minus the previous reply's."""
    raw = session.get("messages")
    if not isinstance(raw, list):
        raise ConfigError("a Hermes session without a messages list", fix="pass a `hermes sessions export` file")
    msgs = [m for m in raw if isinstance(m, dict) and m.get("role") in ("user", "assistant", "tool", "system")]
    called = {c.get("name") or (c.get("function") or {}).get("name")
              for m in msgs if m.get("role") == "assistant"
              for c in _as_list(m.get("tool_calls")) if isinstance(c, dict)}
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
            history.append(_clean(entry))
            sent_at = ts if ts is not None else sent_at
            continue
        k = len(out)
        following = []
        for nxt in msgs[i + 1:]:
            if nxt.get("role") != "tool":
                break
            following.append(nxt)
        reply: dict[str, Any] = {"role": "assistant", "content": msg.get("api_content") or msg.get("content") or ""}
        calls = _hermes_calls(msg.get("tool_calls"), following, k)
        if calls:
            reply["tool_calls"] = calls
        delay = _ms(sent_at - prev_end) if k and sent_at is not None and prev_end is not None else None
        stamp = _ms(sent_at - t0) if k == 0 and sent_at is not None and t0 is not None else None
        out.append(TraceRequest(
            session_id=str(session.get("id") or "session"), messages=list(history), tools=tools,
            output_length=msg.get("token_count") if isinstance(msg.get("token_count"), int) else None,
            timestamp=stamp, delay=delay,
            lanekit=TraceMeta(turn=k, source="hermes", finish_reason=msg.get("finish_reason"), reply=reply,
                              latency_ms=_ms(ts - sent_at) if ts is not None and sent_at is not None else None)))
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


# -- files -------------------------------------------------------------------------------------
def convert_runs(path: str | Path, battery: Any = None, max_tokens: int | None = None) -> tuple[Trace, list[str]]:
    """A trace from a JSONL of lanekit AgentRuns (`lanekit eval --save-runs`) or a `hermes sessions
    export`, sessions ordered by start; unreadable lines come back as notes. Hermes sessions of a
    battery task get that task's toolsets (`battery`: a Battery, default the embedded one)."""
    from lanekit.agents.battery import load_battery

    battery = battery or load_battery()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file", fix="pass a `lanekit eval --save-runs` file or a Hermes export")
    items: list[tuple[float, str, Any]] = []
    notes: list[str] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            notes.append(f"line {lineno}: not valid JSON, skipped")
            continue
        if not isinstance(obj, dict):
            notes.append(f"line {lineno}: not an object, skipped")
        elif "turns" in obj and "schema_version" in obj:
            try:
                run = AgentRun.model_validate(obj)
            except ValidationError as exc:
                notes.append(f"line {lineno}: invalid AgentRun ({exc.errors()[0]['msg']}), skipped")
                continue
            if run.source == "hermes":
                notes.append(f"line {lineno}: a Hermes run without Hermes' system prompt; convert the Hermes "
                             "export (sessions.jsonl) for the prompt Hermes really sent")
            items.append((run.started_at or 0.0, "run", run))
        elif isinstance(obj.get("messages"), list):
            items.append((obj.get("started_at") or 0.0, "hermes", obj))
        else:
            notes.append(f"line {lineno}: neither an AgentRun nor a Hermes session, skipped")
    items.sort(key=lambda x: x[0])
    t0 = items[0][0] if items else 0.0
    requests: list[TraceRequest] = []
    for _, kind, obj in items:
        if kind == "run":
            requests += from_agent_run(obj, t0=t0, max_tokens=max_tokens)
        else:
            first_user = next((m.get("content") for m in obj["messages"] if isinstance(m, dict)
                               and m.get("role") == "user"), None)
            task = battery.match_prompt(first_user) if battery else None
            requests += from_hermes_session(obj, task.hermes.toolsets if task else None, t0=t0)
    if not requests:
        raise ConfigError(f"{path}: no request to replay ({len(notes)} line(s) skipped)",
                          fix="record runs with `lanekit eval --save-runs FILE` or export Hermes sessions")
    return Trace(requests=requests, source=str(path)), notes


def dumps_trace(trace: Trace, mode: MessageMode = "history") -> str:
    """The JSONL text of a trace; delta mode keeps only each request's new messages (a session whose
    requests do not each extend the last — e.g. Hermes compressed its context — stays in history form)."""
    lines = []
    for session in trace.sessions():
        delta = mode == "delta" and _extends_strictly(session)  # else AIPerf could not rebuild it
        prev: TraceRequest | None = None
        for req in session:
            data = req.model_dump(mode="json", exclude_none=True)
            data.pop("message_mode", None)
            if delta:
                data["message_mode"] = "delta"
                if prev is not None:
                    data["messages"] = req.messages[len(prev.messages) + 1:]
            lines.append(json.dumps(_ordered(data), ensure_ascii=False, separators=(",", ":")))
            prev = req
    return "\n".join(lines) + "\n"


def _extends_strictly(session: list[TraceRequest]) -> bool:
    """Every request is the previous one, its recorded reply, and at least one new message."""
    for prev, cur in zip(session, session[1:]):
        reply = prev.lanekit.reply if prev.lanekit else None
        head = prev.messages + [reply]
        if reply is None or len(cur.messages) <= len(head) or cur.messages[:len(head)] != head:
            return False
    return True


def _ordered(data: dict[str, Any]) -> dict[str, Any]:
    first = ("session_id", "message_mode", "timestamp", "delay", "output_length", "messages", "tools", "lanekit")
    return {**{k: data[k] for k in first if k in data}, **{k: v for k, v in data.items() if k not in first}}


def write_trace(trace: Trace, path: str | Path, mode: MessageMode = "history") -> Path:
    """Write a trace as JSONL (AIPerf `mooncake_trace`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps_trace(trace, mode), encoding="utf-8")
    return path


def parse_trace(text: str, source: str = "trace") -> Trace:
    """Read trace JSONL in history or delta form into history form; ConfigError names the line."""
    sessions: dict[str, list[TraceRequest]] = {}
    order: list[TraceRequest] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            req = TraceRequest.model_validate_json(line)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "line"
            raise ConfigError(f"{source} line {lineno}: {where}: {err['msg']}",
                              fix="each line needs session_id and messages (AIPerf mooncake_trace with messages)") from None
        prior = sessions.setdefault(req.session_id, [])
        if prior and (prior[0].message_mode == "delta") != (req.message_mode == "delta"):
            raise ConfigError(f"{source} line {lineno}: session {req.session_id!r} mixes delta and history entries",
                              fix="give every entry of a session the same message_mode")
        if req.message_mode == "delta" and prior:
            reply = prior[-1].lanekit.reply if prior[-1].lanekit else None
            if reply is None:
                raise ConfigError(f"{source} line {lineno}: a delta entry without the recorded reply before it",
                                  fix="replay this trace with --replay-mode delta (the lane's own replies), or "
                                      "write it with `lanekit trace convert --mode history`")
            req = req.model_copy(update={"messages": prior[-1].messages + [reply] + req.messages})
        prior.append(req)
        order.append(req)
    if not order:
        raise ConfigError(f"{source}: no requests", fix="a trace has one JSON object per line")
    return Trace(requests=order, source=source, sha256=hashlib.sha256(text.encode()).hexdigest())


def read_trace(path: str | Path) -> Trace:
    """A trace file, or a name of one shipped with lanekit (`embedded:core`)."""
    ref = str(path)
    if ref.startswith("embedded:"):
        name = ref.split(":", 1)[1]
        files = resources.files("lanekit.agents.traces")
        entry = files.joinpath(f"{name}.trace.jsonl")
        if not entry.is_file():
            shipped = sorted(p.name[:-len(".trace.jsonl")] for p in files.iterdir() if p.name.endswith(".trace.jsonl"))
            raise ConfigError(f"no shipped trace {name!r}", fix=f"use one of: {', '.join(f'embedded:{s}' for s in shipped)}")
        return parse_trace(entry.read_text(encoding="utf-8"), ref)
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"trace file {p} not found", fix="pass a trace JSONL (`lanekit trace convert`), or embedded:core")
    return parse_trace(p.read_text(encoding="utf-8"), str(p))


__all__ = ["TRACE_FORMAT", "Trace", "TraceMeta", "TraceRequest", "convert_runs", "describe", "dumps_trace",
           "from_agent_run",
           "from_hermes_session", "hermes_tools", "parse_trace", "read_trace", "write_trace"]
