"""Reasoning stays out of the answer: no raw `<think>` in content, no answer lost to thinking."""

from __future__ import annotations

from lanekit.doctor import fixes
from lanekit.doctor.report import CheckResult

NAME = "reasoning"


def run(probe) -> CheckResult:
    from lanekit.doctor.checks.coherence import reply

    r = reply(probe)
    if not r.ok:
        return CheckResult(name=NAME, status="warn", detail="no completion to inspect", fix=None)
    msg = r.message()
    content = msg.get("content") or ""
    reasoning = msg.get("reasoning_content") or msg.get("reasoning") or ""
    engine, model = probe.detect_engine(), probe.model_name()
    if "<think>" in content or "</think>" in content:
        return CheckResult(name=NAME, status="warn",
                           detail="raw <think> markup in content: the reasoning is not parsed out, and a tool "
                                  "call inside it would be lost",
                           fix=fixes.reasoning_swallowed(model, engine))
    if reasoning and not content.strip():
        return CheckResult(name=NAME, status="warn", detail="the model spent the whole short budget thinking",
                           fix=fixes.reasoning_swallowed(model, engine))
    if reasoning:
        return CheckResult(name=NAME, status="pass", detail=f"reasoning separated ({len(reasoning)} chars in "
                                                           "reasoning_content)")
    return CheckResult(name=NAME, status="pass", detail="no reasoning in the answer")
