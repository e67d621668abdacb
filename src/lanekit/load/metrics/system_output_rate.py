"""System output throughput across concurrent requests."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class SystemOutputRate(Metric):
    """Output tokens per second the whole endpoint delivered over the span of the requests.

    Formula: system_output_tok_s = Σosl / ((max(start + e2e) − min(start)) / 1e9)
    """

    tag = "system_output_tok_s"
    unit = "tok/s"
    larger_is_better = True
    requires = ("span_ns",)
    kind = "aggregate"

    @classmethod
    def formula(cls, rs):
        return rs.total_osl * 1e9 / rs.span_ns if rs.span_ns > 0 else None
