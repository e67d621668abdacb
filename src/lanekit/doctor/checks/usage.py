"""`usage` is reported: token counts in plain responses and, when asked, in the stream."""

from __future__ import annotations

from lanekit.doctor.report import CheckResult

NAME = "usage"


def run(probe) -> CheckResult:
    from lanekit.doctor.checks.coherence import reply

    r = reply(probe)
    usage = (r.body or {}).get("usage") if r.ok else None
    if not isinstance(usage, dict) or not usage.get("prompt_tokens") or usage.get("completion_tokens") is None:
        return CheckResult(name=NAME, status="warn", detail=f"no usage in the response ({usage!r})",
                           fix="token counts fall back to a client tokenizer; prefer an engine that reports usage")
    stream_usage = probe.stream().get("usage")
    if not stream_usage:
        return CheckResult(name=NAME, status="warn",
                           detail=f"usage in responses ({usage['prompt_tokens']} prompt + "
                                  f"{usage['completion_tokens']} completion) but not in the stream "
                                  "(stream_options.include_usage)",
                           fix="vLLM: --enable-force-include-usage; otherwise count streamed tokens client-side")
    return CheckResult(name=NAME, status="pass",
                       detail=f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens; "
                              "also in the stream")
