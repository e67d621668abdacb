"""Output quality gates: a cheap coherence (gibberish) check; perplexity lives beside it."""

from lanekit.quality.coherence import KNOWN_PROMPTS, CoherenceResult, judge, looks_like_gibberish, text_stats

__all__ = ["KNOWN_PROMPTS", "CoherenceResult", "judge", "looks_like_gibberish", "text_stats"]
