"""Typed quality results: the config a plan embeds, one result per lane/file, the A/B table.

Built once where measured, read-only afterwards. Every result names its corpus sha256 and
the sha256 of the evaluated token ids: two PPLs or KLDs compare only when both match.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

QUALITY_SCHEMA_VERSION = 1


class QualityCfg(BaseModel):
    """How `lanekit quality` (and the bakeoff's `quality:` step) measures a lane."""

    model_config = ConfigDict(extra="forbid")

    corpus: str = Field("pd-en-v1", description="shipped corpus name or a UTF-8 text file")
    ctx: int = Field(512, ge=16, description="tokens per window (llama-perplexity -c)")
    chunks: int | None = Field(16, ge=2, description="windows to score (None: the whole corpus)")
    stride: int | None = Field(None, ge=1, description="None: llama.cpp's non-overlapping chunks; else "
                                                       "overlapping windows (HTTP lanes)")
    depth: int | None = Field(None, ge=256, description="also measure long-context PPL in windows of this "
                                                        "many tokens (skipped when the lane serves less)")
    harness: str | None = Field(None, description="take depth from this harness' context floor (hermes)")
    base: str | None = Field(None, description="base GGUF for KLD; None: the highest-precision file given")
    sliding_window: int | None = Field(None, ge=16, description="attention window of a sliding-window model "
                                                               "(read from the base GGUF when there is one)")
    threads: int | None = Field(None, ge=1)
    top_logprobs: int = Field(20, ge=1, le=100, description="HTTP lanes: top-k log-probs per token")
    timeout_s: float = Field(3600.0, gt=0)


class PplEstimate(BaseModel):
    """Perplexity over one chunking of one token stream."""

    ppl: float
    ppl_err: float | None = None
    n_ctx: int
    n_chunks: int
    n_scored: int = Field(description="tokens scored in all chunks")
    convention: str = "llama.cpp"
    chunk_ppl: list[float] = Field(default_factory=list, description="running PPL after each chunk")
    eval_s: float | None = None

    @property
    def tokens_per_s(self) -> float:
        """Evaluated (not just scored) tokens per second."""
        return self.n_chunks * self.n_ctx / self.eval_s if self.eval_s else math.nan


class KldEstimate(BaseModel):
    """Divergence from the base on the same token ids (llama-perplexity --kl-divergence)."""

    base: str = Field(description="the base file's name")
    base_bits_per_weight: float | None = None
    kld_mean: float
    kld_err: float | None = None
    kld_median: float | None = None
    kld_p99: float | None = None
    kld_p999: float | None = None
    kld_max: float | None = None
    same_top: float = Field(description="top-1 agreement with the base, 0..1 (llama.cpp 'Same top p')")
    same_top_err: float | None = None
    rms_dp: float | None = Field(None, description="RMS of p(target) - p_base(target), 0..1")
    ln_ppl_ratio: float | None = None
    ppl_base: float | None = None
    topk_only: bool = Field(False, description="lane gave only top-k log-probs: KLD is a lower bound")


class QualityResult(BaseModel):
    """One lane's (or file's) quality measurement."""

    schema_version: int = QUALITY_SCHEMA_VERSION
    label: str
    method: Literal["llama-perplexity", "prompt-logprobs"]
    engine: str
    model_file: str | None = None
    file_bytes: int | None = None
    bits_per_weight: float | None = None
    endpoint: str | None = None
    corpus: str
    corpus_sha256: str
    tokens_sha256: str | None = None
    add_bos: bool | None = None
    is_base: bool = False
    ppl: PplEstimate
    long_ctx: PplEstimate | None = None
    long_ctx_skipped: str | None = None
    kld: KldEstimate | None = None
    argv: list[str] = Field(default_factory=list)


class QualityTable(BaseModel):
    """Quant A/B: one row per file of one model, base named; rendered beside memory and speed."""

    schema_version: int = QUALITY_SCHEMA_VERSION
    base: str | None
    corpus: str
    corpus_sha256: str
    rows: list[QualityResult]
