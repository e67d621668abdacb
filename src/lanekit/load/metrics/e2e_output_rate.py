"""Output tokens over the whole request latency."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class E2EOutputRate(Metric):
    """Output tokens per second of total latency; works without streaming, includes prefill.

    Formula: e2e_output_tok_s = osl / (e2e_ns / 1e9)
    """

    tag = "e2e_output_tok_s"
    unit = "tok/s"
    larger_is_better = True
    requires = ("e2e_ns", "osl")

    @classmethod
    def formula(cls, rec):
        return rec.osl * 1e9 / rec.e2e_ns if rec.e2e_ns > 0 else None
