"""Per-user prefill throughput."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class PrefillRate(Metric):
    """Prompt tokens processed per second before the first token, network latency included.

    Formula: prefill_tok_s = (isl − cached_tokens) / (ttft_ns / 1e9)   (cached_tokens = 0 when unreported)
    """

    tag = "prefill_tok_s"
    unit = "tok/s"
    larger_is_better = True
    requires = ("isl", "ttft_ns")

    @classmethod
    def formula(cls, rec):
        if rec.ttft_ns <= 0:
            return None
        return max(0, rec.isl - (rec.cached_tokens or 0)) * 1e9 / rec.ttft_ns
