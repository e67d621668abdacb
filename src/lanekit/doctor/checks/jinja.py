"""llama.cpp only: `--jinja` is on, so the model's chat template (and its tools) is used.

Without it llama-server rejects `tools` ("tools param requires --jinja flag") and an agent
gets nothing but errors.
"""

from __future__ import annotations

from lanekit.doctor import fixes
from lanekit.doctor.report import CheckResult

NAME = "jinja"


def applies(probe) -> bool:
    return probe.detect_engine() == "llamacpp"


def run(probe) -> CheckResult:
    reply = probe.tool_reply()
    if reply.status != 200 and "jinja" in reply.text.lower():
        return CheckResult(name=NAME, status="fail",
                           detail=f"tools rejected with HTTP {reply.status}: {_error(reply)}", fix=fixes.no_jinja())
    return CheckResult(name=NAME, status="pass", detail="--jinja on: requests with tools are accepted")


def _error(reply) -> str:
    body = reply.body if isinstance(reply.body, dict) else {}
    err = body.get("error")
    msg = err.get("message") if isinstance(err, dict) else err
    return str(msg or reply.text)[:160]
