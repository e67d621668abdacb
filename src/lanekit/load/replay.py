"""Replay an agent trace against a lane: the agent's own requests (growing history, tool results,
its tool list), streamed, with the lane's sampling (no sampling field is sent), the recorded gaps
between a reply and the next request honoured.

Public entry point:
    run_replay(base_url, model, trace, *, mode="history", repeats=1, ...) -> ScenarioResult

Modes: `history` sends every request's recorded messages verbatim (every lane gets identical
prompts; with `pin_output` each reply is held to the recorded length, so lanes do identical
work); `delta` threads the lane's own replies into the history, as the agent would see them —
recorded tool results follow, their `tool_call_id`s remapped to the ids the lane produced (calls
the lane did not make are padded from the recording, extra calls dropped, so the history stays
one a chat template accepts; the summary counts both).

Per request: TTFT, prefill rate over the tokens the server really evaluated (`prompt_evaluated`,
not the cached ones), decode rate, prefix-cache reuse (`cached_tokens`), seconds; per session the
lane's seconds and the wall clock including the agent's own gaps. Intervals (`results.stats`)
resample each request's repeats, so the mix of long and short turns — the same for every lane — is
not counted as noise.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import httpx

from lanekit.agents.traces.workload import Trace, TraceRequest
from lanekit.endpoint.client import DEFAULT_TIMEOUT_S, EndpointClient
from lanekit.endpoint.records import RequestRecord
from lanekit.load.metrics import record_metrics
from lanekit.load.replay_summary import summarize_replay
from lanekit.load.result import Progress, Recorder, ScenarioResult, call_progress, run_coro, sample_data
from lanekit.load.sink import Sink
from lanekit.load.watch import Liveness, Watch

Mode = Literal["history", "delta"]
Schedule = Literal["sequential", "timestamps"]
DEFAULT_CAP = 512  # output cap for a request whose trace names none


class _Threader:
    """Delta mode: the conversation as the lane's own replies made it."""

    def __init__(self) -> None:
        self.convo: list[dict[str, Any]] = []
        self.padded_calls = self.dropped_calls = self.resynced = self.recorded_replies = 0

    def messages(self, session: list[TraceRequest], k: int, prev_rec: RequestRecord | None) -> list[dict]:
        req = session[k]
        if k == 0:
            self.convo = list(req.messages)
            return self.convo
        prev = session[k - 1]
        recorded = req.messages[len(prev.messages)] if len(req.messages) > len(prev.messages) else None
        if recorded is None or req.messages[: len(prev.messages)] != prev.messages:
            self.resynced += 1  # the agent rewrote its history here (e.g. compression): follow the trace
            self.convo = list(req.messages)
            return self.convo
        new = [dict(m) for m in req.messages[len(prev.messages) + 1 :]]  # copies: ids get remapped below
        reply = self._live(prev_rec, recorded, new)
        self.convo = self.convo + [reply] + new
        return self.convo

    def _live(self, rec: RequestRecord | None, recorded: dict, new: list[dict]) -> dict[str, Any]:
        if rec is None or rec.reply is None or not rec.ok:
            self.recorded_replies += 1  # the lane gave no reply to thread: keep the recorded one
            return recorded
        wanted = [m.get("tool_call_id") for m in new if m.get("role") == "tool"]
        live = [_whole_call(c, i) for i, c in enumerate(rec.reply.tool_calls)]
        rec_calls = recorded.get("tool_calls") or []
        if len(live) > len(wanted):
            self.dropped_calls += len(live) - len(wanted)
            live = live[: len(wanted)]
        while len(live) < len(wanted):
            self.padded_calls += 1
            live.append(
                rec_calls[len(live)]
                if len(live) < len(rec_calls)
                else {
                    "id": wanted[len(live)],
                    "type": "function",
                    "function": {"name": "", "arguments": "{}"},
                }
            )
        ids = {old: call["id"] for old, call in zip(wanted, live)}
        for msg in new:  # the recorded results now answer the lane's own calls
            if msg.get("role") == "tool" and msg.get("tool_call_id") in ids:
                msg["tool_call_id"] = ids[msg["tool_call_id"]]
        out: dict[str, Any] = {"role": "assistant", "content": rec.reply.content or ""}
        if live:
            out["tool_calls"] = live
        return out


def _whole_call(call: Any, i: int) -> dict[str, Any]:
    """A lane's call as history can carry it: an id, and arguments that are a JSON object (chat
    templates parse them; a broken call would fail the next request for a reason not the lane's)."""
    fn = call.get("function") if isinstance(call, dict) and isinstance(call.get("function"), dict) else {}
    args = fn.get("arguments")
    try:
        ok = isinstance(json.loads(args), dict) if isinstance(args, str) else False
    except json.JSONDecodeError:
        ok = False
    cid = call.get("id") if isinstance(call, dict) and call.get("id") else f"call_live_{i}"
    return {
        "id": cid,
        "type": "function",
        "function": {"name": fn.get("name") or "", "arguments": args if ok else "{}"},
    }


def _cap(req: TraceRequest, max_tokens: int | None, pin: bool) -> tuple[int, bool]:
    """(max_tokens to send, pin it): pinned to the recorded length when known and asked."""
    if pin and req.output_length:
        return max(1, req.output_length), True
    cap = max_tokens or (req.lanekit.max_tokens if req.lanekit and req.lanekit.max_tokens else None)
    return cap or max(DEFAULT_CAP, req.output_length or 0), False


def run_replay(
    base_url: str,
    model: str,
    trace: Trace,
    *,
    mode: Mode = "history",
    repeats: int = 1,
    pin_output: bool | None = None,
    max_tokens: int | None = None,
    honour_delays: bool = True,
    time_scale: float = 1.0,
    schedule: Schedule = "sequential",
    sink: Sink | None = None,
    progress: Progress | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    alive: Liveness | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    clock: Callable[[], int] = time.perf_counter_ns,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ScenarioResult:
    """Replay `trace` `repeats` times. `pin_output` (default: on in history mode) holds each reply
    to the recorded length; otherwise replies stop where the lane stops, at most `max_tokens`
    (default: the trace's cap, else 512). Sessions run one after another (`sequential`: one
    agent) or start at their recorded offsets (`timestamps`: agents side by side); gaps inside a
    session are the recorded delays × `time_scale` (none with `honour_delays=False`)."""
    if mode not in ("history", "delta"):
        raise ValueError(f"mode must be history or delta, not {mode!r}")
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    pin = (mode == "history") if pin_output is None else pin_output
    sessions = trace.sessions()
    total = repeats * len(trace.requests)
    extends = trace.extends_previous()
    params = {
        "mode": mode,
        "repeats": repeats,
        "pin_output": pin,
        "max_tokens": max_tokens,
        "honour_delays": honour_delays,
        "time_scale": time_scale,
        "schedule": schedule,
        "trace": trace.source,
        "trace_sha256": trace.sha256,
    }

    async def go() -> ScenarioResult:
        with Recorder("replay", sink, base_url, model, params) as rec:
            rows: list[dict[str, Any]] = []
            threaders: list[_Threader] = []
            watch = Watch(alive)
            done = 0
            async with EndpointClient(
                base_url, model, transport=transport, clock=clock, timeout_s=timeout_s
            ) as client:

                async def one_session(rep: int, s: int, session: list[TraceRequest], t_start: int) -> None:
                    nonlocal done
                    threader = _Threader()
                    threaders.append(threader)
                    prev_rec: RequestRecord | None = None
                    prev_end: int | None = None
                    if schedule == "timestamps" and session[0].timestamp:
                        await _wait_until(
                            t_start + int(session[0].timestamp * 1e6 * time_scale), clock, sleep
                        )
                    for k, req in enumerate(session):
                        watch.check()
                        scheduled_ms = (req.delay or 0.0) * time_scale if honour_delays and k else 0.0
                        if prev_end is not None and scheduled_ms:
                            await _wait_until(prev_end + int(scheduled_ms * 1e6), clock, sleep)
                        messages = (
                            req.messages if mode == "history" else threader.messages(session, k, prev_rec)
                        )
                        cap, pinned = _cap(req, max_tokens, pin)
                        r = await client.request(
                            messages=messages,
                            tools=req.tools,
                            tool_choice="auto" if req.tools else None,
                            max_tokens=cap,
                            stream=True,
                            enforce_length=pinned,
                            temperature=None,
                            timeout_s=timeout_s,
                        )
                        end = clock()
                        gap_ms = (r.start_ns - prev_end) / 1e6 if prev_end is not None else None
                        row = _row(
                            r,
                            rep=rep,
                            session=s,
                            turn=k,
                            scheduled_ms=scheduled_ms if k else None,
                            gap_ms=gap_ms,
                            n_messages=len(messages),
                            cap=cap,
                            pinned=pinned,
                        )
                        rows.append(row)
                        rec.add(sample_data(r, **{k2: v for k2, v in row.items() if not k2.startswith("_")}))
                        done += 1
                        call_progress(
                            progress,
                            done,
                            total,
                            f"pass {rep + 1}/{repeats} session {s + 1}/"
                            f"{len(sessions)} turn {k + 1}/{len(session)}",
                        )
                        prev_rec, prev_end = r, end
                        await watch.after(r)

                for rep in range(repeats):
                    t_start = clock()
                    if schedule == "sequential":
                        for s, session in enumerate(sessions):
                            await one_session(rep, s, session, t_start)
                    else:
                        await asyncio.gather(
                            *(one_session(rep, s, sess, t_start) for s, sess in enumerate(sessions))
                        )
            summary = summarize_replay(
                rows,
                threaders,
                extends=extends,
                mode=mode,
                repeats=repeats,
                pin=pin,
                n_sessions=len(sessions),
            )
            summary = {"trace": trace.source, "trace_sha256": trace.sha256, **summary}
            return rec.finish(summary)

    return run_coro(go)


async def _wait_until(
    target_ns: int, clock: Callable[[], int], sleep: Callable[[float], Awaitable[None]]
) -> None:
    # one sleep to just short of the target, then a short one: event-loop sleeps overshoot
    # by a millisecond or more, and the delay is what is being reproduced
    remaining = target_ns - clock()
    if remaining > 2_000_000:
        await sleep((remaining - 1_000_000) / 1e9)
    remaining = target_ns - clock()
    if remaining > 0:
        await sleep(remaining / 1e9)


def _row(
    r: RequestRecord,
    *,
    rep: int,
    session: int,
    turn: int,
    scheduled_ms: float | None,
    gap_ms: float | None,
    n_messages: int,
    cap: int,
    pinned: bool,
) -> dict[str, Any]:
    m = record_metrics(r)
    ttft_s = r.ttft_ns / 1e9 if r.ttft_ns else None
    evaluated = r.prompt_evaluated
    prefill = evaluated / ttft_s if evaluated is not None and ttft_s else None
    return {
        "repeat": rep,
        "session": session,
        "turn": turn,
        "n_messages": n_messages,
        "max_tokens_sent": cap,
        "pinned": pinned,
        "scheduled_delay_ms": scheduled_ms,
        "actual_delay_ms": gap_ms,
        "schedule_lag_ms": gap_ms - scheduled_ms if gap_ms is not None and scheduled_ms is not None else None,
        "evaluated_prefill_tok_s": prefill,
        "_ok": r.ok,
        "_short": r.ok and r.short,
        "_e2e_s": (r.e2e_ns or 0) / 1e9,
        "_ttft_ms": r.ttft_ns / 1e6 if r.ttft_ns else None,
        "_decode": m.get("decode_tok_s"),
        "_server_pp": r.server_prefill_tok_s,
        "_isl": r.isl,
        "_cached": r.cached_tokens,
        "_evaluated": evaluated,
        "_osl": r.osl,
        "_error": r.error,
        "_finish": r.finish_reason,
    }


__all__ = ["run_replay"]
