"""Per-user prefill throughput."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class PrefillRate(Metric):
    """Prompt tokens per second until the first token, network latency and cache hits included
    (a re-sent prompt served from the cache reads fast; `depth` busts the cache for this reason).

    Formula: prefill_tok_s = isl / (ttft_ns / 1e9)
    """

    tag = "prefill_tok_s"
    unit = "tok/s"
    larger_is_better = True
    requires = ("isl", "ttft_ns")

    @classmethod
    def formula(cls, rec):
        if rec.ttft_ns <= 0:
            return None
        return rec.isl * 1e9 / rec.ttft_ns
