"""The engine's own per-request decode rate."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class ServerDecodeRate(Metric):
    """Decode rate the engine reports for the request (llama.cpp `timings.predicted_per_second`).

    Formula: server_decode_tok_s = timings.predicted_n / (timings.predicted_ms / 1e3)
    """

    tag = "server_decode_tok_s"
    unit = "tok/s"
    larger_is_better = True
    requires = ("server_timings",)

    @classmethod
    def formula(cls, rec):
        return rec.server_decode_tok_s
