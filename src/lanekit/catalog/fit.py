"""Does it fit, and how fast can it go: one model x quant x engine on one box.

`fit_model` joins the memory envelope, the roofline and the known issues into a FitReport whose
`to_json()` is the stable `lanekit fit --json` object; `catalog_table` does it for every
catalog model x common quant.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

from lanekit.catalog.hardware import HardwareProfile, available_bytes
from lanekit.catalog.harnesses import HERMES
from lanekit.catalog.issues import KnownIssue, issues_for
from lanekit.catalog.memory import MemoryEstimate, estimate_memory, normalize_engine
from lanekit.catalog.predict import predict_shape
from lanekit.catalog.quants import COMMON_CHECKPOINT, COMMON_GGUF, get_scheme
from lanekit.catalog.roofline import DEFAULT_DEPTH, decode_roofline
from lanekit.catalog.shapes import ModelShape
from lanekit.errors import ConfigError

SCHEMA_VERSION = 1
# vLLM takes 0.9 of the device's whole memory when a lane leaves gpu_memory_utilization unset,
# on unified memory too (there: 0.9 of the box). SGLang derives its fraction from the GPU size;
# 0.9 is the upper end it picks, so the guard assumes that.
ENGINE_DEFAULT_UTILIZATION = {"vllm": 0.9, "sglang": 0.9}


class FitReport(BaseModel):
    """Everything `lanekit fit` prints, as data."""

    model: str
    hf_id: str | None
    alias: str | None = None
    hardware: str
    engine: str
    quant: str | None
    memory: MemoryEstimate
    available_bytes: int
    free_after_bytes: int
    fits: bool
    verdict: str
    active_params: int
    bytes_read_per_token: int
    decode_ceiling_tok_s: float
    predicted_decode_tok_s: float
    predicted_bench_tok_s: float | None = None
    predicted_at_ctx_tok_s: float | None = None
    prediction_depth: int = 1024
    prediction_origin: str = "estimate"
    prediction_source: str = ""
    aggregate_ceiling_tok_s: float | None
    prefill_ceiling_tok_s: float | None
    bandwidth_gb_s: float
    prediction_terms: dict[str, Any]
    issues: list[KnownIssue]
    estimated: bool
    estimated_parts: list[str]
    shape_estimated: bool
    per_request_ctx: int

    def to_json(self) -> dict[str, Any]:
        """The stable JSON object (`schema_version` 1): flat numbers first, then the details."""
        m = self.memory
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model, "hf_id": self.hf_id, "hardware": self.hardware, "engine": self.engine,
            "quant": self.quant, "ctx": m.ctx, "parallel": m.parallel, "per_request_ctx": self.per_request_ctx,
            "total_ctx": m.total_ctx, "kv_dtype": m.kv_dtype,
            "weights_bytes": m.weights_bytes, "kv_bytes_per_token": m.kv_bytes_per_token,
            "kv_bytes": m.kv_bytes, "state_bytes": m.state_bytes, "overhead_bytes": m.overhead_bytes,
            "headroom_bytes": m.headroom_bytes, "total_bytes": m.total_bytes,
            "reserved_bytes": m.reserved_bytes, "gpu_memory_utilization": m.gpu_memory_utilization,
            "full_length_sequences": m.full_length_sequences, "memory_problems": m.problems,
            "available_bytes": self.available_bytes, "free_after_bytes": self.free_after_bytes,
            "fits": self.fits, "verdict": self.verdict,
            "active_params": self.active_params, "bytes_read_per_token": self.bytes_read_per_token,
            "bandwidth_gb_s": self.bandwidth_gb_s,
            "decode_ceiling_tok_s": self.decode_ceiling_tok_s,
            "predicted_decode_tok_s": self.predicted_decode_tok_s,
            "predicted_bench_tok_s": self.predicted_bench_tok_s,
            "predicted_at_ctx_tok_s": self.predicted_at_ctx_tok_s, "prediction_depth": self.prediction_depth,
            "prediction_origin": self.prediction_origin, "prediction_source": self.prediction_source,
            "aggregate_ceiling_tok_s": self.aggregate_ceiling_tok_s,
            "prefill_ceiling_tok_s": self.prefill_ceiling_tok_s,
            "prediction_terms": self.prediction_terms,
            "estimated": self.estimated, "estimated_parts": self.estimated_parts,
            "issues": [{"id": i.id, "severity": i.severity, "title": i.title, "source": i.source, "fix": i.fix}
                       for i in self.issues],
            "memory_explain": m.explain(),
        }


def default_engine(quant: str | None, shape: ModelShape | None = None) -> str:
    """llama.cpp for GGUF files and quants, vLLM for checkpoint quants (FP8, NVFP4, AWQ, ...)."""
    if quant is None or (shape is not None and shape.source == "gguf"):
        return "llamacpp"
    try:
        return "llamacpp" if get_scheme(quant).gguf else "vllm"
    except ConfigError:  # a quant only a GGUF names (IQ2_XXS, TQ1_0...)
        return "llamacpp"


def engine_quant(quant: str | None, engine: str) -> str | None:
    """The quant as the engine loads it: llama.cpp runs gpt-oss MXFP4 as the MXFP4_MOE GGUF."""
    if quant and engine in ("llamacpp", "ollama") and quant.upper() == "MXFP4":
        return "MXFP4_MOE"
    return quant


def fit_model(shape: ModelShape, hw: HardwareProfile, *, ctx: int | None = None, parallel: int = 1,
              kv_dtype: str = "f16", engine: str | None = None, quant: str | None = None,
              gpu_memory_utilization: float | None = None, batch: int | None = None,
              harness: str | None = "hermes", depth: int = DEFAULT_DEPTH) -> FitReport:
    """Size `shape` on `hw`: memory envelope, free memory after, verdict, ceilings, known issues.

    `ctx` is the context one request may use, for every engine (as in lanes.yaml); the engine is
    sized for ctx x `parallel`. It defaults to the model's native context capped at 65536.
    Decode speed is predicted at `depth` tokens and at the full `ctx`. `harness` adds that
    harness' known issues (Hermes: the 64K context floor); None for an agent without such checks.
    """
    quant = quant or shape.quant
    engine = normalize_engine(engine or default_engine(quant, shape))
    quant = engine_quant(quant, engine)
    if ctx is None:
        ctx = min(shape.context_length or 65536, 65536)
    # vLLM reserves utilization x the device's whole memory, which on UMA is the whole box.
    pool = hw.memory_bytes
    util = gpu_memory_utilization
    assumed = util is None and engine in ENGINE_DEFAULT_UTILIZATION
    if assumed:
        util = ENGINE_DEFAULT_UTILIZATION[engine]
    mem = estimate_memory(shape, ctx=ctx, parallel=parallel, kv_dtype=kv_dtype, engine=engine, quant=quant,
                          pool_bytes=pool, gpu_memory_utilization=util if engine in ("vllm", "sglang") else None,
                          utilization_assumed=assumed)
    avail = available_bytes(hw)
    free_after = avail - mem.total_bytes
    fits = free_after >= 0 and not mem.problems
    roof = decode_roofline(shape, hw, engine=engine, quant=mem.quant, batch=batch or parallel, depth=depth,
                           kv_dtype=kv_dtype)
    at_ctx = predict_shape(shape, roof.terms, quant=mem.quant, depth=ctx, kv_dtype=_kv(kv_dtype))
    found = issues_for(shape, engine=engine, quant=mem.quant, hardware=hw.key, unified=hw.unified,
                       harness=harness if harness != "hermes" or ctx < HERMES.min_context else None)
    if mem.problems:
        verdict = "does not fit (engine reservation)"
    elif not fits:
        verdict = "does not fit"
    elif any(i.severity == "fail" for i in found):
        verdict = "fits, but see known issues"
    elif free_after < 0.1 * hw.usable_bytes:
        verdict = "fits (tight)"
    else:
        verdict = "fits"
    terms = roof.terms
    parts = [name for name, flag in (("shape", shape.estimated), ("weights", mem.weights_estimated),
                                     ("speed_terms", terms.origin == "estimate")) if flag]
    return FitReport(
        model=shape.name, hf_id=shape.hf_id, hardware=hw.key, engine=engine, quant=mem.quant, memory=mem,
        available_bytes=avail, free_after_bytes=free_after, fits=fits, verdict=verdict,
        active_params=shape.active_params, bytes_read_per_token=roof.bytes_read_per_token,
        decode_ceiling_tok_s=roof.decode_ceiling_tok_s, predicted_decode_tok_s=roof.predicted_decode_tok_s,
        predicted_bench_tok_s=roof.predicted_bench_tok_s, predicted_at_ctx_tok_s=at_ctx.tok_s,
        prediction_depth=depth, prediction_origin=terms.origin, prediction_source=roof.prediction_source,
        aggregate_ceiling_tok_s=roof.aggregate_ceiling_tok_s, prefill_ceiling_tok_s=roof.prefill_ceiling_tok_s,
        bandwidth_gb_s=hw.measured_bandwidth_gb_s or hw.bandwidth_gb_s,
        prediction_terms=terms.model_dump(mode="json"), issues=found,
        estimated=bool(parts), estimated_parts=parts, shape_estimated=shape.estimated,
        per_request_ctx=ctx, alias=shape.aliases[0] if shape.aliases else None,
    )


def _kv(kv_dtype: str) -> str:
    return kv_dtype if kv_dtype in ("f16", "bf16", "q8_0", "q4_0", "fp8", "f32") else "f16"


def catalog_table(hw: HardwareProfile, *, models: list[ModelShape], quants: tuple[str, ...] | None = None,
                  ctx: int = 65536, parallel: int = 1, kv_dtype: str = "f16") -> list[FitReport]:
    """One FitReport per catalog model x quant (GGUF quants on llama.cpp, checkpoint ones on vLLM).

    `ctx` is per request; the native checkpoint quant is added when it is not in `quants`. vLLM
    rows are sized as a recipe would set them (`sized_utilization`), not at the unset default.
    """
    rows = []
    for shape in models:
        wanted = list(quants or (COMMON_GGUF + COMMON_CHECKPOINT))
        if shape.quant and shape.quant.upper() not in {q.upper() for q in wanted} and shape.quant != "BF16":
            wanted.append(shape.quant)
        if shape.quant == "MXFP4" and not quants:  # gpt-oss: the GGUF keeps experts in MXFP4 too
            wanted.append("MXFP4_MOE")
        for quant in wanted:
            engine = default_engine(quant)
            util = sized_utilization(shape, hw, ctx=ctx, parallel=parallel, kv_dtype=kv_dtype, quant=quant) \
                if engine in ENGINE_DEFAULT_UTILIZATION else None
            rows.append(fit_model(shape, hw, ctx=ctx, parallel=parallel, kv_dtype=kv_dtype, engine=engine,
                                  quant=quant, gpu_memory_utilization=util))
    return rows


def sized_utilization(shape: ModelShape, hw: HardwareProfile, *, ctx: int, parallel: int, kv_dtype: str,
                      quant: str) -> float:
    """The gpu_memory_utilization a lane would set for this model: (weights + KV for every request
    at full length + overhead) x 1.1 over the pool, in hundredths, capped at 0.85 on unified memory
    (the OS shares the pool) and 0.95 on a discrete GPU."""
    need = estimate_memory(shape, ctx=ctx, parallel=parallel, kv_dtype=kv_dtype, engine="vllm", quant=quant)
    held = need.weights_bytes + need.kv_bytes + need.state_bytes + need.overhead_bytes
    cap = 0.85 if hw.unified else 0.95
    return min(cap, max(0.1, math.ceil(held * 1.1 / hw.memory_bytes * 100) / 100))
