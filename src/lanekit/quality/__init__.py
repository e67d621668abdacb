"""Output quality: perplexity with llama.cpp's exact chunking, KLD and top-1 agreement against
a base on the same token ids, and the gibberish gate (calibrated on real garbage).

    run_quality(LaneTarget, QualityCfg) -> QualityResult        one lane (bakeoff `quality:` step)
    compare_files([gguf, ...], QualityCfg) -> QualityTable      quant A/B, base = highest precision
    judge(text, accepted) / looks_like_gibberish(text)           the gate
Heavy parts import lazily: `import lanekit.quality` stays cheap for the doctor.
"""

from lanekit.quality.coherence import (
    KNOWN_PROMPTS,
    PROSE_PROMPT,
    CoherenceResult,
    judge,
    looks_like_gibberish,
    text_stats,
)
from lanekit.quality.result import KldEstimate, PplEstimate, QualityCfg, QualityResult, QualityTable

__all__ = ["KNOWN_PROMPTS", "PROSE_PROMPT", "CoherenceResult", "KldEstimate", "LaneTarget", "PplEstimate",
           "QualityCfg", "QualityResult", "QualityTable", "compare_files", "judge", "looks_like_gibberish",
           "run_quality", "target_from_record", "target_from_spec", "text_stats"]


def __getattr__(name: str):
    if name in ("run_quality", "compare_files", "LaneTarget", "target_from_record", "target_from_spec"):
        from lanekit.quality import run

        return getattr(run, name)
    raise AttributeError(name)
