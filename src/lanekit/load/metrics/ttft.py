"""Time to first token (content or reasoning)."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class TTFT(Metric):
    """Time to the first chunk carrying any token, content or reasoning (AIPerf's TTFT).

    Formula: ttft_ns = t(first chunk with content, reasoning or tool-call delta) − t(request sent)
    """

    tag = "ttft_ns"
    unit = "ns"
    larger_is_better = False
    requires = ("ttft_ns",)

    @classmethod
    def formula(cls, rec):
        return int(rec.ttft_ns)
