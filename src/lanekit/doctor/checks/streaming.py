"""Streaming works: SSE chunks with content deltas, ending in `data: [DONE]`."""

from __future__ import annotations

from lanekit.doctor.report import CheckResult

NAME = "streaming"


def run(probe) -> CheckResult:
    s = probe.stream()
    if s["status"] != 200:
        return CheckResult(name=NAME, status="fail", detail=f"stream request failed: HTTP {s['status']} {s['error']}",
                           fix="the harness streams: fix the server before anything else")
    if s["chunks"] == 0:
        return CheckResult(name=NAME, status="fail", detail="stream=true returned no SSE chunks",
                           fix="a proxy may be buffering; call the engine directly")
    if s["bad_lines"] or not s["done"]:
        return CheckResult(name=NAME, status="warn",
                           detail=f"{s['chunks']} chunks, {s['bad_lines']} malformed, "
                                  f"{'no' if not s['done'] else ''} [DONE]".strip(),
                           fix="malformed SSE breaks strict clients; check for a proxy rewriting the stream")
    if not s["content"].strip():
        return CheckResult(name=NAME, status="warn", detail=f"{s['chunks']} chunks but no content deltas",
                           fix="reasoning-only output? check the reasoning check")
    return CheckResult(name=NAME, status="pass",
                       detail=f"{s['chunks']} chunks, first after {s['ttfc_s']:.2f}s, ends with [DONE]")
