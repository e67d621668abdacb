"""The same tool request, streamed — what a streaming agent sends. Servers parse tool calls in a
separate streaming path (vLLM's streaming tool parser, llama.cpp's partial parser), which can drop
or garble a call the non-streamed path returns whole.
"""

from __future__ import annotations

from lanekit.doctor import fixes
from lanekit.doctor.checks.tool_calls import _judge_calls, call_in_text
from lanekit.doctor.report import CheckResult

NAME = "tool_calls_stream"


def run(probe) -> CheckResult:
    engine, model = probe.detect_engine(), probe.model_name()
    reply = probe.tool_reply(stream=True)
    plain = probe.tool_reply()
    if reply.status == 0:
        return CheckResult(name=NAME, status="fail", detail=f"no answer to a streamed tools request ({reply.error})",
                           fix="read the server log (`lanekit logs`)")
    if reply.status != 200:
        return CheckResult(name=NAME, status="fail", detail=f"HTTP {reply.status} for a streamed tools request",
                           fix="agents stream: " + fixes.http_400(model, engine))
    if reply.record is not None and reply.record.error_kind == "malformed":
        return CheckResult(name=NAME, status="fail", detail=f"the streamed reply is malformed: {reply.error}",
                           fix="check for a proxy rewriting the stream; call the engine directly")
    calls = reply.message().get("tool_calls") or []
    if calls:
        judged = _judge_calls(calls, reply)
        return CheckResult(name=NAME, status=judged.status,
                           detail="streamed: " + judged.detail.replace("structured call", "deltas assembled into"),
                           fix=judged.fix)
    text = reply.message().get("content") or ""
    streamed_only = bool(plain.ok and plain.message().get("tool_calls"))
    form = call_in_text(text)
    if streamed_only:
        return CheckResult(name=NAME, status="fail",
                           detail="the non-streamed request returns a structured call but the streamed one does not"
                                  + (f" (written in the text as a {form})" if form else ""),
                           fix=fixes.streaming_tools(model, engine))
    return CheckResult(name=NAME, status="warn" if not form else "fail",
                       detail="no structured call streamed either" + (f"; written in the text as a {form}" if form
                                                                     else " (see tool_calls)"),
                       fix=fixes.call_in_text(model, engine, form) if form else None)
