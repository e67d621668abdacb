"""Per-request inter-token latency (vLLM's TPOT)."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class ITL(Metric):
    """Mean gap between output tokens after the first; needs OSL ≥ 2.

    Formula: itl_ns = (e2e_ns − ttft_ns) / (osl − 1)
    """

    tag = "itl_ns"
    unit = "ns"
    larger_is_better = False
    requires = ("e2e_ns", "ttft_ns", "osl")

    @classmethod
    def formula(cls, rec):
        if rec.osl < 2 or rec.e2e_ns <= rec.ttft_ns:
            return None
        return round((rec.e2e_ns - rec.ttft_ns) / (rec.osl - 1))
