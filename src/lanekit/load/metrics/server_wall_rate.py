"""Server-counter generation rate over the whole scrape window."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class ServerWallRate(Metric):
    """Generated-token counter increase divided by the scrape span, idle windows included.

    Formula: server_wall_tok_s = Σ Δgeneration_tokens_total / ((t_last_scrape − t_first_scrape) / 1e9)
    """

    tag = "server_wall_tok_s"
    unit = "tok/s"
    larger_is_better = True
    requires = ("generated_tokens", "wall_ns")
    kind = "server"

    @classmethod
    def formula(cls, w):
        return w.generated_tokens * 1e9 / w.wall_ns if w.wall_ns > 0 else None
