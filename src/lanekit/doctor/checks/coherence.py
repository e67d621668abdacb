"""Output is language, and the known answer to a known prompt (the gibberish gate)."""

from __future__ import annotations

from lanekit.doctor.report import CheckResult

NAME = "coherence"


def reply(probe):
    from lanekit.quality.coherence import KNOWN_PROMPTS

    return probe.chat("coherence", [{"role": "user", "content": KNOWN_PROMPTS[0][0]}], max_tokens=32)


def run(probe) -> CheckResult:
    from lanekit.quality.coherence import KNOWN_PROMPTS, judge

    r = reply(probe)
    if not r.ok:
        return CheckResult(name=NAME, status="fail", detail=f"chat completion failed: HTTP {r.status} {r.text[:120]}",
                           fix="read the server log (`lanekit logs`)")
    msg = r.message()
    text = msg.get("content") or ""
    if not text.strip() and (msg.get("reasoning_content") or msg.get("reasoning")):
        return CheckResult(name=NAME, status="warn", detail="only reasoning came back within 32 tokens",
                           fix="the gate needs a short answer: disable thinking for this check or raise max_tokens")
    verdict = judge(text, KNOWN_PROMPTS[0][1])
    fix = None
    if verdict.status == "fail":
        fix = ("the model loads but emits nonsense: a broken quant/kernel path (modelopt NVFP4 on sm_121 via "
               "Marlin), wrong chat template or tokenizer — try another checkpoint or quant")
    return CheckResult(name=NAME, status=verdict.status, detail=verdict.detail, fix=fix)
