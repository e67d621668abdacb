"""The engine's own decode-time counters (llama.cpp)."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class ServerSlotDecodeRate(Metric):
    """Tokens per second of the engine's own decode-time counter; per slot when slots run in parallel.

    Formula: server_slot_decode_tok_s = Δtokens_predicted_total / Δtokens_predicted_seconds_total
    """

    tag = "server_slot_decode_tok_s"
    unit = "tok/s"
    larger_is_better = True
    requires = ("generated_tokens", "generation_seconds")
    kind = "server"

    @classmethod
    def formula(cls, w):
        return w.generated_tokens / w.generation_seconds if w.generation_seconds > 0 else None
