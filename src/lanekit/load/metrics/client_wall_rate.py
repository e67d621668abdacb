"""Output tokens over the whole wall window, idle time included (the number that lies)."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class ClientWallRate(Metric):
    """Output tokens divided by wall time, idle gaps included — shown only beside the in-flight rate.

    Formula: wall_tok_s = Σosl / (wall_ns / 1e9)
    """

    tag = "wall_tok_s"
    unit = "tok/s"
    larger_is_better = True
    requires = ("wall_ns",)
    kind = "aggregate"

    @classmethod
    def formula(cls, rs):
        return rs.total_osl * 1e9 / rs.wall_ns if rs.wall_ns > 0 else None
