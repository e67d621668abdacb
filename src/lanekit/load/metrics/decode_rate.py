"""Per-user decode throughput."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class DecodeRate(Metric):
    """Decode tokens per second one user sees, prefill excluded (AIPerf's per-user output throughput).

    Formula: decode_tok_s = (osl − 1) / ((e2e_ns − ttft_ns) / 1e9) = 1 / ITL
    """

    tag = "decode_tok_s"
    unit = "tok/s"
    larger_is_better = True
    requires = ("e2e_ns", "ttft_ns", "osl")

    @classmethod
    def formula(cls, rec):
        if rec.osl < 2 or rec.e2e_ns <= rec.ttft_ns:
            return None
        return (rec.osl - 1) * 1e9 / (rec.e2e_ns - rec.ttft_ns)
