"""Prefill throughput over the prompt tokens the server really evaluated."""

from __future__ import annotations

from lanekit.load.metrics.base import Metric, register


@register
class EvaluatedPrefillRate(Metric):
    """Prompt tokens the server evaluated (llama.cpp `timings.prompt_n`, else ISL − cached) per
    second until the first token. Unlike `prefill_tok_s` a prefix-cache hit does not inflate it:
    a re-sent 80-token prompt with 79 cached is 1 token of prefill, not 80.

    Formula: evaluated_prefill_tok_s = prompt_evaluated / (ttft_ns / 1e9)
    """

    tag = "evaluated_prefill_tok_s"
    unit = "tok/s"
    larger_is_better = True
    requires = ("prompt_evaluated", "ttft_ns")

    @classmethod
    def formula(cls, rec):
        if rec.ttft_ns <= 0:
            return None
        return rec.prompt_evaluated * 1e9 / rec.ttft_ns
