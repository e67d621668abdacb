"""Memory fractions derived from the catalog's sizing estimate, not the engines' defaults.

vLLM's `--gpu-memory-utilization 0.9` (SGLang's `--mem-fraction-static`, TRT-LLM's
`kv_cache_free_gpu_memory_fraction`) is a share of the *whole* pool; on a unified-memory box
that is the whole machine. The recipe asks for what weights + KV(ctx × parallel) + overhead
need, plus a margin, capped by the hardware profile.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, Field

from lanekit.lanes.recipes.data import Hardware

MARGIN = 1.10         # 10% over the estimate: allocator fragmentation, CUDA graphs, sampler
MIN_FRACTION = 0.10
GIB = 1 << 30
_QUANT_SUFFIX = re.compile(r"[-_.](fp8(-dynamic)?|nvfp4|mxfp4|awq(-4bit)?|gptq(-int[48])?|int[48]|w4a16|"
                           r"bf16|fp16|4bit|8bit|gguf|instruct-2507|thinking-2507|instruct|it)$", re.IGNORECASE)
_QUANT_NAMES = (("nvfp4", "NVFP4"), ("mxfp4", "MXFP4"), ("fp8", "FP8"), ("awq", "AWQ"), ("gptq", "GPTQ"),
                ("int8", "INT8"))


class Sizing(BaseModel):
    """What the recipe derived and from which numbers (rendered by `lanekit recipe --json`)."""

    fields: dict[str, Any] = Field(default_factory=dict)
    pool_bytes: int | None = None
    need_bytes: int | None = None
    weights_bytes: int | None = None
    kv_bytes: int | None = None
    native_ctx: int | None = None
    shape: str | None = None
    quant: str | None = None
    notes: list[str] = Field(default_factory=list)


def quant_of(model_ref: str) -> str | None:
    """Weight format named in the model id (…-FP8, …-NVFP4, …-AWQ), None when not named."""
    low = model_ref.lower()
    for token, name in _QUANT_NAMES:
        if token in low:
            return name
    return None


def find_shape(model_ref: str):
    """Catalog shape for the ref, retrying without quant/instruct suffixes (Qwen3-30B-A3B-FP8)."""
    from lanekit.lanes.engines._common import resolve_shape

    shape = resolve_shape(model_ref)
    ref = model_ref.rstrip("/").partition(":")[0] if "/" in model_ref else model_ref.rstrip("/")  # REPO:QUANT
    while shape is None:
        base = ref.rsplit("/", 1)[-1]
        stripped = _QUANT_SUFFIX.sub("", base)
        if stripped == base or not stripped:
            return None
        ref = stripped
        shape = resolve_shape(ref)
    return shape


def derive(engine: str, hw: Hardware, model_ref: str, *, ctx: int, parallel: int, kv_dtype: str,
           set_fields: set[str]) -> Sizing:
    """Memory fields for `engine` on `hw`; fields the caller already set are left alone."""
    out = Sizing(pool_bytes=hw.pool_bytes() if hw.gpu or engine == "vllm" else None, quant=quant_of(model_ref))
    if engine not in ("vllm", "vllm-docker", "sglang", "trtllm"):
        return out
    shape = find_shape(model_ref)
    if shape is None:
        if hw.gpu:
            out.notes.append(f"{model_ref!r} is not in the catalog: memory fraction falls back to "
                             f"{hw.fallback_gpu_memory_utilization} (set it by hand once you know the footprint)")
            _set_fraction(out, engine, hw.fallback_gpu_memory_utilization, set_fields, kv_share=0.5)
        return out
    from lanekit.catalog.memory import estimate_memory

    kv = kv_dtype if kv_dtype in ("f16", "bf16", "fp8", "auto") else "f16"
    est = estimate_memory(shape, ctx=ctx, parallel=parallel, kv_dtype=kv, engine="sglang" if engine == "sglang"
                          else "vllm", quant=out.quant, headroom_bytes=0)
    need = est.weights_bytes + est.kv_bytes + est.state_bytes + est.overhead_bytes
    out.need_bytes, out.weights_bytes, out.kv_bytes = need, est.weights_bytes, est.kv_bytes
    out.native_ctx, out.shape, out.quant = shape.context_length, shape.name, est.quant
    if not hw.gpu:  # vLLM-CPU: KV space in whole GiB, weights live in ordinary memory
        if engine == "vllm" and "VLLM_CPU_KVCACHE_SPACE" not in set_fields:
            out.fields["env"] = {"VLLM_CPU_KVCACHE_SPACE": str(max(1, math.ceil(est.kv_bytes * MARGIN / GIB)))}
        return out
    pool = out.pool_bytes or 1
    if engine == "trtllm":  # share of what is free after weights, for the KV cache only
        free = pool - est.weights_bytes - est.overhead_bytes
        frac = est.kv_bytes * MARGIN / free if free > 0 else 1.0
        _set_fraction(out, engine, _round_up(min(max(frac, MIN_FRACTION), hw.max_gpu_memory_utilization)),
                      set_fields)
        if free <= 0 or frac > hw.max_gpu_memory_utilization:
            out.notes.append(_no_fit(need, pool))
        return out
    frac = need * MARGIN / pool
    capped = _round_up(min(max(frac, MIN_FRACTION), hw.max_gpu_memory_utilization))
    _set_fraction(out, engine, capped, set_fields)
    out.notes.append(f"memory fraction {capped:g} = (weights {est.weights_bytes / GIB:.1f} GiB + KV "
                     f"{est.kv_bytes / GIB:.1f} GiB for {ctx:,} tokens x {parallel} + overhead "
                     f"{est.overhead_bytes / GIB:.1f} GiB) x {MARGIN} / pool {pool / GIB:.0f} GiB"
                     + (f", capped at {hw.max_gpu_memory_utilization}" if frac > hw.max_gpu_memory_utilization
                        else ""))
    if frac > hw.max_gpu_memory_utilization:
        out.notes.append(_no_fit(need, pool))
    return out


def _set_fraction(out: Sizing, engine: str, value: float, set_fields: set[str], kv_share: float = 1.0) -> None:
    key = {"sglang": "mem_fraction_static", "trtllm": "kv_cache_free_gpu_memory_fraction"}.get(
        engine, "gpu_memory_utilization")
    if key not in set_fields:
        out.fields[key] = round(value * kv_share, 2) if engine == "trtllm" else value


def _round_up(value: float) -> float:
    return math.ceil(value * 100 - 1e-9) / 100


def _no_fit(need: int, pool: int) -> str:
    return (f"does NOT fit: needs ~{need / GIB:.1f} GiB of a {pool / GIB:.0f} GiB pool — lower ctx/parallel, "
            "use fp8 KV or a smaller quant")
