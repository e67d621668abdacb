"""Prefix-cache hit rate from server counters."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class PrefixHitRate(Metric):
    """Share of prompt tokens served from the prefix cache over the window (vLLM, SGLang).

    Formula: prefix_hit_rate = Δprefix_cache_hits_total / Δprefix_cache_queries_total
    """

    tag = "prefix_hit_rate"
    unit = "ratio"
    larger_is_better = True
    requires = ("prefix_hits", "prefix_queries")
    kind = "server"

    @classmethod
    def formula(cls, w):
        return w.prefix_hits / w.prefix_queries if w.prefix_queries > 0 else None
