"""The doctor's checks, one module each, run in this order (cheap and decisive first).

Each module has `NAME`, `run(probe) -> CheckResult` and optionally `applies(probe) -> bool`.
"""

from __future__ import annotations

from lanekit.doctor.checks import (
    backend,
    coherence,
    context,
    jinja,
    metrics,
    models,
    prefix_cache,
    reasoning,
    streaming,
    tool_calls,
    tool_calls_stream,
    usage,
)

CHECKS = [models, backend, context, jinja, coherence, tool_calls, tool_calls_stream, reasoning, streaming, usage, metrics,
          prefix_cache]
CHECK_NAMES = [c.NAME for c in CHECKS]

__all__ = ["CHECKS", "CHECK_NAMES"]
