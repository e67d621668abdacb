"""Time to first output (non-reasoning) token."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class TTFO(Metric):
    """Time to the first content (non-reasoning) token; GenAI-Perf's TTFT, GuideLLM's TTFOT.

    Formula: ttfo_ns = t(first chunk with content or tool-call delta) − t(request sent)
    """

    tag = "ttfo_ns"
    unit = "ns"
    larger_is_better = False
    requires = ("ttfo_ns",)

    @classmethod
    def formula(cls, rec):
        return int(rec.ttfo_ns)
