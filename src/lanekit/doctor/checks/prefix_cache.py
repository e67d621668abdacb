"""Prefix caching is on, where the engine reports it (agent turns resend the same prefix)."""

from __future__ import annotations

import re

from lanekit.doctor import fixes
from lanekit.doctor.report import CheckResult

NAME = "prefix_cache"


def run(probe) -> CheckResult:
    engine = probe.detect_engine()
    props = probe.props()
    if props:
        params = props.get("default_generation_settings", {}).get("params", {})
        if params.get("cache_prompt") is False:
            return CheckResult(name=NAME, status="warn", detail="llama-server cache_prompt is off",
                               fix=fixes.prefix_cache("llamacpp"))
        return CheckResult(name=NAME, status="pass", detail="llama-server reuses each slot's prompt cache "
                                                            "(cache_prompt on)")
    text = probe.metrics_text().text if probe.metrics_text().status == 200 else ""
    info = re.search(r'enable_prefix_caching="(\w+)"', text)
    if info:
        on = info.group(1).lower() == "true"
        return CheckResult(name=NAME, status="pass" if on else "warn",
                           detail=f"vllm:cache_config_info enable_prefix_caching={info.group(1)}",
                           fix=None if on else fixes.prefix_cache(engine or "vllm"))
    for series in ("prefix_cache_queries", "sglang:cache_hit_rate", "cached_tokens"):
        if series in text:
            return CheckResult(name=NAME, status="pass", detail=f"engine reports {series}")
    return CheckResult(name=NAME, status="pass", detail=f"not reported by {engine or 'this engine'} (not checked)")
