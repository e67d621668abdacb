"""Speculative-decoding acceptance from server counters."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class SpecAcceptance(Metric):
    """Share of drafted tokens the target model accepted over the window.

    Formula: spec_acceptance = Δspec_decode_num_accepted_tokens_total / Δspec_decode_num_draft_tokens_total
    """

    tag = "spec_acceptance"
    unit = "ratio"
    larger_is_better = True
    requires = ("spec_accepted", "spec_draft_tokens")
    kind = "server"

    @classmethod
    def formula(cls, w):
        return w.spec_accepted / w.spec_draft_tokens if w.spec_draft_tokens > 0 else None
