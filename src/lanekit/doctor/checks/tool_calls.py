"""A request with `tools` returns STRUCTURED `tool_calls` — the check that decides agent use.

Diagnoses, in order: no answer; HTTP 4xx/5xx (vLLM without `--enable-auto-tool-choice
--tool-call-parser` answers 400; llama.cpp without --jinja refuses tools); a malformed call;
the call trapped in reasoning; the call written in the text (fenced ```json block,
<tool_call> tags, bare JSON — the parser missed the model's markup); tools silently dropped
by a template without tool support; the model simply not calling.
"""

from __future__ import annotations

import json
import re

from lanekit.doctor import fixes
from lanekit.doctor.probe import WEATHER_TOOL
from lanekit.doctor.report import CheckResult

NAME = "tool_calls"
TOOL = WEATHER_TOOL["function"]["name"]


def call_in_text(text: str, names: tuple[str, ...] = (TOOL,)) -> str | None:
    """How a tool call was written into plain text, None when there is none."""
    if not text or not any(n in text for n in names):
        return None
    if re.search(r"```(?:json|tool_call|python)?\s*[\[{]", text):
        return "fenced ```json block"
    if "<tool_call>" in text or "<function=" in text:
        return "<tool_call> tags"
    if "[TOOL_CALLS]" in text:
        return "[TOOL_CALLS] marker"
    if re.search(r'"(name|function)"\s*:\s*"', text):
        return "bare JSON object"
    if any(re.search(rf"\b{re.escape(n)}\s*\(", text) for n in names):
        return "python-style call"
    return None


def tools_dropped(probe) -> str | None:
    """Evidence that `tools` never reached the prompt, None when they did or it is unknown."""
    caps = probe.props().get("chat_template_caps") if probe.props() else None
    if isinstance(caps, dict) and caps.get("supports_tools") is False and caps.get("supports_tool_calls") is False:
        return "the chat template has no tool support (/props chat_template_caps)"
    with_tools = (probe.tool_reply().body or {}).get("usage", {}) if probe.tool_reply().ok else {}
    plain = probe.no_tool_reply()
    without = (plain.body or {}).get("usage", {}) if plain.ok else {}
    a, b = with_tools.get("prompt_tokens"), without.get("prompt_tokens")
    if isinstance(a, int) and isinstance(b, int) and a <= b:
        return f"the prompt is {a} tokens with tools and {b} without: the template ignores `tools`"
    return None


def _error(reply) -> str:
    body = reply.body if isinstance(reply.body, dict) else {}
    err = body.get("error", body.get("detail", body.get("message")))
    msg = err.get("message") if isinstance(err, dict) else err
    return str(msg or reply.text)[:200]


def run(probe) -> CheckResult:
    engine, model = probe.detect_engine(), probe.model_name()
    reply = probe.tool_reply()
    if reply.status == 0:
        return CheckResult(name=NAME, status="fail", detail=f"no answer to a tools request ({reply.error})",
                           fix="read the server log (`lanekit logs`)")
    if reply.status != 200:
        err = _error(reply)
        if "jinja" in err.lower():
            return CheckResult(name=NAME, status="fail", detail=f"HTTP {reply.status}: {err}", fix=fixes.no_jinja())
        missing_parser = reply.status == 400 and any(k in err.lower() for k in ("tool", "auto"))
        return CheckResult(name=NAME, status="fail",
                           detail=(f"HTTP {reply.status} for a request with tools — the missing-parser failure: "
                                   if missing_parser else f"HTTP {reply.status}: ") + err,
                           fix=fixes.http_400(model, engine) if missing_parser else "read the server log")
    if reply.error and not reply.ok:
        return CheckResult(name=NAME, status="fail", detail=f"the reply to a tools request is unusable: {reply.error}",
                           fix="check for a proxy rewriting responses; call the engine directly")
    msg = reply.message()
    calls = msg.get("tool_calls") or []
    if calls:
        return _judge_calls(calls, reply)
    text = msg.get("content") or ""
    reasoning = msg.get("reasoning_content") or msg.get("reasoning") or ""
    think = re.search(r"<think>(.*?)(</think>|$)", text, re.DOTALL)
    trapped = reasoning if call_in_text(reasoning) else (think.group(1) if think and call_in_text(think.group(1))
                                                         else "")
    if trapped:
        return CheckResult(name=NAME, status="fail",
                           detail=f"reasoning swallowed the call: it sits inside the thinking block "
                                  f"({trapped.strip()[:80]!r}) and no tool_calls came back",
                           fix=fixes.reasoning_swallowed(model, engine))
    form = call_in_text(text)
    if form:
        return CheckResult(name=NAME, status="fail",
                           detail=f"call written in the text as a {form}, not as structured tool_calls: "
                                  f"{text.strip()[:100]!r}",
                           fix=fixes.call_in_text(model, engine, form))
    dropped = tools_dropped(probe)
    if dropped:
        return CheckResult(name=NAME, status="fail", detail=f"tools silently dropped: {dropped}",
                           fix=fixes.tools_dropped(model, engine))
    if reply.finish_reason() == "length":
        return CheckResult(name=NAME, status="fail",
                           detail=f"ran out of max_tokens ({probe.max_tokens}) before any call "
                                  f"(reasoning {len(reasoning)} chars)",
                           fix=fixes.reasoning_swallowed(model, engine))
    return CheckResult(name=NAME, status="fail",
                       detail=f"no tool call: the model answered in text {text.strip()[:100]!r}",
                       fix="this model/template does not call tools reliably; " + fixes.recipe_hint(model, engine or "vllm"))


def _judge_calls(calls: list, reply) -> CheckResult:
    fn = (calls[0] or {}).get("function") or {}
    name, raw = fn.get("name"), fn.get("arguments")
    try:
        args = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return CheckResult(name=NAME, status="fail", detail=f"tool_calls arguments are not JSON: {str(raw)[:80]!r}",
                           fix="a tool-call parser/template mismatch; check the recipe's parser")
    if name != TOOL or not isinstance(args, dict):
        return CheckResult(name=NAME, status="fail", detail=f"malformed call: name {name!r}, arguments {args!r}",
                           fix="a tool-call parser/template mismatch; check the recipe's parser")
    right = "paris" in json.dumps(args).lower()
    return CheckResult(name=NAME, status="pass" if right else "warn",
                       detail=f"structured call {name}({json.dumps(args)}) in {reply.seconds:.1f}s, "
                              f"finish_reason {reply.finish_reason()!r}"
                              + ("" if right else " — arguments miss the city asked for"),
                       fix=None if right else "check the model's argument quality (tool battery)")
