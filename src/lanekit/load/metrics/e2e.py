"""End-to-end request latency."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class E2E(Metric):
    """Client-side request latency, send to last byte.

    Formula: e2e_ns = t(last SSE event) − t(request sent)
    """

    tag = "e2e_ns"
    unit = "ns"
    larger_is_better = False
    requires = ("e2e_ns",)

    @classmethod
    def formula(cls, rec):
        return int(rec.e2e_ns)
