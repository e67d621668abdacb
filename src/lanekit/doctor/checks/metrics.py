"""A Prometheus `/metrics` endpoint is exposed (bench reads windowed counters from it)."""

from __future__ import annotations

from lanekit.doctor import fixes
from lanekit.doctor.probe import default_metrics_url
from lanekit.doctor.report import CheckResult

NAME = "metrics"
PREFIXES = ("llamacpp:", "vllm:", "sglang:", "trtllm", "num_requests_running", "prompt_tokens_total")


def run(probe) -> CheckResult:
    engine = probe.detect_engine()
    r = probe.metrics_text()
    url = probe.metrics_url or default_metrics_url(probe.root, engine)
    if r.status != 200:
        return CheckResult(name=NAME, status="warn",
                           detail=f"no Prometheus metrics at {url} "
                                  f"({f'HTTP {r.status}' if r.status else f'no answer: {r.error}'})",
                           fix=fixes.metrics(engine))
    series = [ln for ln in r.text.splitlines() if ln and not ln.startswith("#")]
    hit = next((p for p in PREFIXES if p in r.text), None)
    if not series or hit is None:
        return CheckResult(name=NAME, status="warn", detail="metrics answered but no known series in it",
                           fix=fixes.metrics(engine))
    return CheckResult(name=NAME, status="pass", detail=f"{len(series)} series ({hit}…)")
