"""Agent traces as a replayable workload: one record per request an agent sent, in AIPerf's
`mooncake_trace` JSONL shape, so the same file drives `lanekit bench --replay` and `aiperf profile
--custom-dataset-type mooncake_trace`.

Public entry points:
    from_agent_run(run) -> list[TraceRequest]          # lanekit's own AgentRun (built-in loop)
    from_hermes_session(session, toolsets=None)  # one `hermes sessions export` line (hermes_requests.py)
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
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lanekit.agents.trace import AgentRun
from lanekit.errors import ConfigError

TRACE_FORMAT = "mooncake_trace"
MessageMode = Literal["history", "delta"]
# the order fields are written in: AIPerf's mooncake_trace fields, then lanekit's one object
FIELD_ORDER = ("session_id", "message_mode", "timestamp", "delay", "output_length", "messages", "tools", "lanekit")
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
    timestamp: float | None = Field(
        None, ge=0, description="ms from the trace's start (a session's first request)"
    )
    delay: float | None = Field(
        None, ge=0, description="ms between the previous reply's end and this request"
    )
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
            for prev, cur in pairwise(session):
                total += 1
                head = prev.messages + [_reply_of(prev, cur)]
                hits += cur.messages[: len(head)] == head
        return hits, total


def describe(trace: Trace) -> dict[str, Any]:
    """What a trace holds (`lanekit trace show --json`): sessions, requests, lengths, delays."""
    from statistics import median

    delays = [r.delay for r in trace.requests if r.delay is not None]
    outs = [r.output_length for r in trace.requests if r.output_length is not None]
    hits, total = trace.extends_previous()
    sessions = trace.sessions()
    return {
        "format": TRACE_FORMAT,
        "source": trace.source,
        "sha256": trace.sha256,
        "sessions": len(sessions),
        "requests": len(trace.requests),
        "max_requests_per_session": max(len(s) for s in sessions),
        "prompt_chars_max": max(len(json.dumps(r.messages)) + len(json.dumps(r.tools or [])) for r in trace.requests),
        "tools": sorted(
            {t.get("function", {}).get("name", "") for r in trace.requests for t in r.tools or []}
        ),
        "output_tokens": sum(outs),
        "output_tokens_median": median(outs) if outs else None,
        "delay_ms_median": round(median(delays), 1) if delays else None,
        "delay_s_total": round(sum(delays) / 1000, 3),
        "requests_with_delay": len(delays),
        "extend_previous": hits,
        "later_requests": total,
        "harness": sorted({r.lanekit.source for r in trace.requests if r.lanekit and r.lanekit.source}),
    }


def _reply_of(prev: TraceRequest, cur: TraceRequest) -> dict[str, Any]:
    return cur.messages[len(prev.messages)] if len(cur.messages) > len(prev.messages) else {}


def clean_message(msg: dict[str, Any]) -> dict[str, Any]:
    """A message as an OpenAI request carries it (no timestamps, ids of rows, reasoning blobs)."""
    return {k: msg[k] for k in _MESSAGE_KEYS if k in msg and msg[k] is not None}


def seconds_to_ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(max(0.0, seconds) * 1000.0, 3)


# -- lanekit's own runs ------------------------------------------------------------------------
def from_agent_run(
    run: AgentRun,
    tools: list[dict[str, Any]] | None = None,
    t0: float | None = None,
    max_tokens: int | None = None,
) -> list[TraceRequest]:
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
    for k, turn in enumerate(run.turns[: len(positions)]):
        sent_ns = getattr(turn, "started_ns", None)
        delay = None
        if k and sent_ns is not None and prev_end_ns is not None:
            delay = seconds_to_ms((sent_ns - prev_end_ns) / 1e9)
        stamp = None
        if k == 0 and run.started_at is not None and t0 is not None:
            stamp = seconds_to_ms(run.started_at - t0 + (sent_ns or 0) / 1e9)
        prev_end_ns = (
            sent_ns + turn.latency_ns if sent_ns is not None and turn.latency_ns is not None else None
        )
        reply = clean_message(run.messages[positions[k]])
        out.append(
            TraceRequest(
                session_id=run.id,
                messages=[clean_message(m) for m in run.messages[: positions[k]]],
                tools=tools or None,
                output_length=turn.completion_tokens,
                timestamp=stamp,
                delay=delay,
                lanekit=TraceMeta(
                    turn=k,
                    source=run.source,
                    task_id=run.task_id,
                    max_tokens=max_tokens,
                    prompt_tokens=turn.prompt_tokens,
                    finish_reason=turn.finish_reason,
                    reply=reply,
                    latency_ms=seconds_to_ms(turn.latency_ns / 1e9) if turn.latency_ns is not None else None,
                ),
            )
        )
    return out


def _tools_from_schemas(schemas: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"type": "function", "function": {"name": n, "parameters": p}} for n, p in sorted(schemas.items())
    ]


# -- files -------------------------------------------------------------------------------------
def convert_runs(
    path: str | Path, battery: Any = None, max_tokens: int | None = None
) -> tuple[Trace, list[str]]:
    """A trace from a JSONL of lanekit AgentRuns (`lanekit eval --save-runs`) or a `hermes sessions
    export`, sessions ordered by start; unreadable lines come back as notes. Hermes sessions of a
    battery task get that task's toolsets (`battery`: a Battery, default the embedded one)."""
    from lanekit.agents.battery import load_battery
    from lanekit.agents.traces.hermes_requests import from_hermes_session

    battery = battery or load_battery()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: no such file", fix="pass a `lanekit eval --save-runs` file or a Hermes export"
        )
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
                notes.append(
                    f"line {lineno}: a Hermes run without Hermes' system prompt; convert the Hermes "
                    "export (sessions.jsonl) for the prompt Hermes really sent"
                )
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
            first_user = next(
                (
                    m.get("content")
                    for m in obj["messages"]
                    if isinstance(m, dict) and m.get("role") == "user"
                ),
                None,
            )
            task = battery.match_prompt(first_user) if battery else None
            requests += from_hermes_session(
                obj,
                task.hermes.toolsets if task else None,
                t0=t0,
                max_tokens=max_tokens,
                task_id=task.id if task else None,
            )
    if not requests:
        raise ConfigError(
            f"{path}: no request to replay ({len(notes)} line(s) skipped)",
            fix="record runs with `lanekit eval --save-runs FILE` or export Hermes sessions",
        )
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
                    data["messages"] = req.messages[len(prev.messages) + 1 :]
            lines.append(json.dumps(_ordered(data), ensure_ascii=False, separators=(",", ":")))
            prev = req
    return "\n".join(lines) + "\n"


def _extends_strictly(session: list[TraceRequest]) -> bool:
    """Every request is the previous one, its recorded reply, and at least one new message."""
    for prev, cur in pairwise(session):
        reply = prev.lanekit.reply if prev.lanekit else None
        head = prev.messages + [reply]
        if reply is None or len(cur.messages) <= len(head) or cur.messages[: len(head)] != head:
            return False
    return True


def _ordered(data: dict[str, Any]) -> dict[str, Any]:
    first = FIELD_ORDER
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
            raise ConfigError(
                f"{source} line {lineno}: {where}: {err['msg']}",
                fix="each line needs session_id and messages (AIPerf mooncake_trace with messages)",
            ) from None
        prior = sessions.setdefault(req.session_id, [])
        if prior and (prior[0].message_mode == "delta") != (req.message_mode == "delta"):
            raise ConfigError(
                f"{source} line {lineno}: session {req.session_id!r} mixes delta and history entries",
                fix="give every entry of a session the same message_mode",
            )
        if req.message_mode == "delta" and prior:
            reply = prior[-1].lanekit.reply if prior[-1].lanekit else None
            if reply is None:
                raise ConfigError(
                    f"{source} line {lineno}: a delta entry without the recorded reply before it",
                    fix="replay this trace with --replay-mode delta (the lane's own replies), or "
                    "write it with `lanekit trace convert --mode history`",
                )
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
            shipped = sorted(
                p.name[: -len(".trace.jsonl")] for p in files.iterdir() if p.name.endswith(".trace.jsonl")
            )
            raise ConfigError(
                f"no shipped trace {name!r}", fix=f"use one of: {', '.join(f'embedded:{s}' for s in shipped)}"
            )
        return parse_trace(entry.read_text(encoding="utf-8"), ref)
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(
            f"trace file {p} not found", fix="pass a trace JSONL (`lanekit trace convert`), or embedded:core"
        )
    return parse_trace(p.read_text(encoding="utf-8"), str(p))


__all__ = [
    "TRACE_FORMAT",
    "Trace",
    "TraceMeta",
    "TraceRequest",
    "convert_runs",
    "describe",
    "dumps_trace",
    "from_agent_run",
    "parse_trace",
    "read_trace",
    "write_trace",
]
