"""Output tokens over the time at least one request was in flight (client view)."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class ClientInFlightRate(Metric):
    """Output tokens divided by the union of request lifetimes: idle gaps drop out of the divisor.

    Formula: in_flight_tok_s = Σosl / (|⋃ [start, start + e2e]| / 1e9)
    """

    tag = "in_flight_tok_s"
    unit = "tok/s"
    larger_is_better = True
    requires = ("busy_ns",)
    kind = "aggregate"

    @classmethod
    def formula(cls, rs):
        return rs.total_osl * 1e9 / rs.busy_ns if rs.busy_ns > 0 else None
