"""Server-counter generation rate over windows with requests running (seed 001's fix)."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class ServerInFlightRate(Metric):
    """Generated-token increase divided by busy time; a window's busy share is the trapezoid of
    running>0 at its two edges (1, ½ or 0), and ½ when tokens appeared with both edges idle.

    Formula: server_in_flight_tok_s = Σ Δgeneration_tokens_total / (Σ Δt × busy_share / 1e9)
    """

    tag = "server_in_flight_tok_s"
    unit = "tok/s"
    larger_is_better = True
    requires = ("generated_tokens", "busy_ns")
    kind = "server"

    @classmethod
    def formula(cls, w):
        return w.generated_tokens * 1e9 / w.busy_ns if w.busy_ns > 0 else None
