"""Time to first response chunk."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class TTFR(Metric):
    """Time to the first response chunk, whatever it carries (vLLM's "TTFT").

    Formula: ttfr_ns = t(first SSE event) − t(request sent)
    """

    tag = "ttfr_ns"
    unit = "ns"
    larger_is_better = False
    requires = ("ttfr_ns",)

    @classmethod
    def formula(cls, rec):
        return int(rec.ttfr_ns)
