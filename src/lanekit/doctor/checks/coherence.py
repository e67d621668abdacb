"""Output is language, and the known answer to a known prompt (the gibberish gate).

Two requests: the known-answer prompt (pass needs the answer) and one sentence of free prose,
which gives the statistics enough text to tell language from the sub-word soup a broken lane
emits (a one-word answer carries too little). Thresholds: lanekit.quality.coherence,
calibrated on real garbage (benchmarks/quality/gate_report.py).
"""

from __future__ import annotations

from lanekit.doctor.report import CheckResult

NAME = "coherence"
_BROKEN_FIX = ("the model loads but emits nonsense: a broken quant/kernel path (modelopt NVFP4 on sm_121 via "
               "Marlin), corrupted weights, wrong chat template or RoPE/YaRN settings — try another checkpoint "
               "or quant, and `lanekit quality` to measure it")


def reply(probe):
    """The known-answer reply (shared with the usage and reasoning checks)."""
    from lanekit.quality.coherence import KNOWN_PROMPTS

    return probe.chat("coherence", [{"role": "user", "content": KNOWN_PROMPTS[0][0]}], max_tokens=32)


def prose_reply(probe):
    """One sentence of free prose for the statistics."""
    from lanekit.quality.coherence import PROSE_PROMPT

    return probe.chat("coherence-prose", [{"role": "user", "content": PROSE_PROMPT}], max_tokens=40)


def run(probe) -> CheckResult:
    from lanekit.quality.coherence import KNOWN_PROMPTS, judge, probe_verdict

    r = reply(probe)
    if not r.ok:
        return CheckResult(name=NAME, status="fail", detail=f"chat completion failed: HTTP {r.status} {r.text[:120]}",
                           fix="read the server log (`lanekit logs`)")
    msg = r.message()
    text = msg.get("content") or ""
    if not text.strip() and (msg.get("reasoning_content") or msg.get("reasoning")):
        return CheckResult(name=NAME, status="warn", detail="only reasoning came back within 32 tokens",
                           fix="the gate needs a short answer: disable thinking for this check or raise max_tokens")
    prose_text = None
    if judge(text, KNOWN_PROMPTS[0][1]).status != "fail":  # a lane already failing needs no second request
        prose = prose_reply(probe)
        prose_text = (prose.message().get("content") or "") if prose.ok else None
    verdict = probe_verdict(text, prose_text)
    return CheckResult(name=NAME, status=verdict.status, detail=verdict.detail,
                       fix=_BROKEN_FIX if verdict.status == "fail" else None)
