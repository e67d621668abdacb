"""Memory envelope of one lane: weights + KV cache + recurrent state + engine overhead + headroom.

KV per token follows the attention layout (GQA, sliding window, MLA latents, hybrid linear
attention). What `ctx` means differs by engine; `estimate_memory` documents it.
"""

from __future__ import annotations

from pydantic import BaseModel

from lanekit.catalog.quants import get_scheme, kv_bytes_per_element, weights_bytes_for
from lanekit.catalog.shapes import ModelShape
from lanekit.errors import ConfigError

GIB = 1024**3
GB = 1000**3
LLAMACPP_UBATCH = 512  # llama.cpp default -ub: SWA caches keep this many extra cells
_ENGINE_ALIASES = {
    "llamacpp": "llamacpp", "llama.cpp": "llamacpp", "llama-cpp": "llamacpp", "llama-server": "llamacpp",
    "vllm": "vllm", "sglang": "sglang", "ollama": "ollama", "trtllm": "vllm", "tensorrt-llm": "vllm",
}
ENGINES = ("llamacpp", "vllm", "sglang", "ollama")


def normalize_engine(engine: str) -> str:
    """Canonical engine key (`llama.cpp` → `llamacpp`); ConfigError if unknown."""
    key = _ENGINE_ALIASES.get(engine.strip().lower())
    if key is None:
        raise ConfigError(f"unknown engine {engine!r}", fix=f"use one of {', '.join(ENGINES)}")
    return key


def fmt_bytes(n: float) -> str:
    """Human size in GiB/MiB (binary units, as engines log them)."""
    return f"{n / GIB:.2f} GiB" if abs(n) >= GIB / 4 else f"{n / 1024**2:.1f} MiB"


class MemoryEstimate(BaseModel):
    """The arithmetic for one lane; `total_bytes` is what it needs from the memory pool."""

    weights_bytes: int
    kv_bytes_per_token: int
    kv_bytes: int
    state_bytes: int
    overhead_bytes: int
    headroom_bytes: int
    total_bytes: int
    ctx: int
    parallel: int
    kv_dtype: str
    engine: str
    quant: str | None = None
    swa_kv_bytes: int = 0  # part of kv_bytes held by sliding-window layers (capped at the window)
    kv_tokens: int = 0  # tokens of context the global-attention KV is sized for
    kv_needed_bytes: int = 0  # KV the requested ctx x parallel needs (kv_bytes may be a larger pool)
    reserved_bytes: int | None = None  # vLLM/SGLang: the fraction of the pool taken at start
    weights_estimated: bool = False

    def explain(self) -> list[str]:
        """Human lines showing each term of the sum."""
        lines = [
            f"weights   {fmt_bytes(self.weights_bytes)}"
            + (f" ({self.quant}{', estimated' if self.weights_estimated else ', exact from file'})"
               if self.quant else ""),
            f"kv        {fmt_bytes(self.kv_bytes)} = {self.kv_bytes_per_token:,} B/token x "
            f"{self.kv_tokens:,} tokens ({self.kv_dtype})"
            + (f" + {fmt_bytes(self.swa_kv_bytes)} sliding-window layers" if self.swa_kv_bytes else ""),
        ]
        if self.state_bytes:
            lines.append(f"state     {fmt_bytes(self.state_bytes)} recurrent state x {self.parallel} sequences")
        lines += [
            f"overhead  {fmt_bytes(self.overhead_bytes)} ({self.engine} runtime, compute buffers)",
            f"headroom  {fmt_bytes(self.headroom_bytes)}",
        ]
        if self.reserved_bytes is not None:
            lines.append(f"reserved  {fmt_bytes(self.reserved_bytes)} (gpu_memory_utilization x pool; the "
                         f"KV pool fills the rest: {fmt_bytes(self.kv_needed_bytes)} needed for ctx x parallel)")
        lines.append(f"total     {fmt_bytes(self.total_bytes)}")
        return lines


def embedding_params(shape: ModelShape) -> int:
    """Input embedding plus an untied lm_head, in parameters."""
    return shape.vocab_size * shape.hidden_size * (1 if shape.tied_embeddings else 2)


def expert_params(shape: ModelShape) -> int:
    """Routed-expert parameters (gate, up, down per expert), 0 for dense models."""
    if not shape.n_experts or not shape.expert_ffn:
        return 0
    moe_layers = shape.n_layers
    return moe_layers * shape.n_experts * 3 * shape.hidden_size * shape.expert_ffn


def weights_bytes(shape: ModelShape, quant: str | None = None) -> tuple[int, bool, str | None]:
    """(bytes, estimated?, quant name) for the weights, exact when the shape came from a file."""
    same = quant is None or (shape.quant is not None and quant.upper() == shape.quant.upper())
    if same and shape.weights_bytes:
        return shape.weights_bytes, False, shape.quant
    scheme = get_scheme(quant or shape.quant or "BF16")
    experts = expert_params(shape)
    if shape.expert_weights_bytes and shape.weights_bytes and shape.total_params:
        experts = int(shape.total_params * shape.expert_weights_bytes / shape.weights_bytes)
    n = weights_bytes_for(scheme, total_params=shape.total_params,
                          embedding_params=embedding_params(shape), expert_params=experts)
    return n, True, scheme.name


def kv_bytes_per_token(shape: ModelShape, kv_dtype: str = "f16") -> int:
    """Bytes one token of context adds across the layers whose KV grows with context.

    GQA: 2 (K and V) x layers x kv_heads x head_dim x bytes. MLA: one latent of
    (kv_lora_rank + qk_rope_head_dim) per layer. Windowed and linear/SSM layers are excluded
    (see `swa_kv_bytes_per_token`, `ModelShape.linear_state_bytes`).
    """
    k_dim = shape.head_dim
    return _per_token(shape, kv_dtype, shape.n_global_layers, shape.n_kv_heads, k_dim,
                      shape.head_dim_v or k_dim)


def swa_kv_bytes_per_token(shape: ModelShape, kv_dtype: str = "f16") -> int:
    """Bytes per token of the sliding-window layers, which only keep `sliding_window` tokens."""
    if not shape.n_swa_layers:
        return 0
    k_dim = shape.swa_head_dim or shape.head_dim
    v_dim = shape.swa_head_dim or shape.head_dim_v or shape.head_dim
    return _per_token(shape, kv_dtype, shape.n_swa_layers, shape.swa_n_kv_heads or shape.n_kv_heads,
                      k_dim, v_dim)


def _per_token(shape: ModelShape, kv_dtype: str, layers: int, kv_heads: int, k_dim: int, v_dim: int) -> int:
    elem = kv_bytes_per_element(kv_dtype)
    if shape.is_mla:
        return int(layers * ((shape.kv_lora_rank or 0) + (shape.qk_rope_head_dim or 0)) * elem)
    return int(layers * kv_heads * (k_dim + v_dim) * elem)


def default_overhead_bytes(shape: ModelShape, engine: str) -> int:
    """Runtime + compute buffers: CUDA context, logits and activations for one micro-batch.

    llama.cpp: ~0.5 GiB context + a 512-token ubatch of f32 logits and activations.
    vLLM/SGLang: ~2 GiB for torch, CUDA graphs and the sampler warm-up, plus activations.
    """
    activations = LLAMACPP_UBATCH * (shape.vocab_size + 16 * max(shape.hidden_size, 1)) * 4
    if engine in ("vllm", "sglang"):
        return 2 * GIB + 4 * activations
    return GIB // 2 + activations


def estimate_memory(
    shape: ModelShape,
    *,
    ctx: int,
    parallel: int = 1,
    kv_dtype: str = "f16",
    engine: str = "llamacpp",
    quant: str | None = None,
    headroom_bytes: int | None = None,
    pool_bytes: int | None = None,
    gpu_memory_utilization: float | None = None,
    overhead_bytes: int | None = None,
) -> MemoryEstimate:
    """Estimate what a lane serving `shape` needs from the memory pool.

    What `ctx` means, per engine:
    - llamacpp: the TOTAL context `-c`, shared by the `-np parallel` slots (each slot gets
      ctx / parallel). KV = kv_bytes_per_token x ctx; sliding-window layers hold
      min(ctx, window x parallel + ubatch) cells; recurrent state x parallel sequences.
    - ollama: per-request context (`OLLAMA_CONTEXT_LENGTH`); Ollama allocates ctx x parallel.
    - vllm / sglang: `--max-model-len`, per sequence; `parallel` = `--max-num-seqs`, so the KV
      to serve every sequence at full length is kv_bytes_per_token x ctx x parallel. With
      `gpu_memory_utilization` and `pool_bytes` given, the engine reserves that fraction of the
      pool at start (on unified memory that is the whole box), so total = max(need, reserved).

    `headroom_bytes` defaults to max(2 GiB, 5% of `pool_bytes`); total = weights + kv + state +
    overhead + headroom.
    """
    if ctx < 1 or parallel < 1:
        raise ConfigError(f"ctx and parallel must be positive (got ctx={ctx}, parallel={parallel})",
                          fix="pass --ctx >= 1 and --parallel >= 1")
    engine = normalize_engine(engine)
    kv_dtype = "f16" if kv_dtype == "auto" else kv_dtype
    w_bytes, w_est, qname = weights_bytes(shape, quant)
    per_token = kv_bytes_per_token(shape, kv_dtype)
    swa_per_token = swa_kv_bytes_per_token(shape, kv_dtype)
    window = shape.sliding_window or 0
    if engine == "llamacpp":
        kv_tokens = ctx
        swa_tokens = min(ctx, window * parallel + LLAMACPP_UBATCH) if window else ctx
    else:  # per-sequence context, every sequence sized for the full length
        kv_tokens = ctx * parallel
        swa_tokens = (min(ctx, window) if window else ctx) * parallel
    swa_bytes = swa_per_token * swa_tokens
    kv = per_token * kv_tokens + swa_bytes
    state = shape.linear_state_bytes * parallel
    overhead = default_overhead_bytes(shape, engine) if overhead_bytes is None else overhead_bytes
    if headroom_bytes is None:
        headroom_bytes = max(2 * GIB, int(0.05 * pool_bytes)) if pool_bytes else 2 * GIB
    kv_needed = kv
    reserved = None
    if engine in ("vllm", "sglang") and gpu_memory_utilization and pool_bytes:
        # The engine grabs utilization x pool at start and fills what weights leave with KV blocks.
        reserved = int(gpu_memory_utilization * pool_bytes)
        kv = max(kv_needed, reserved - w_bytes - state - overhead)
    total = w_bytes + kv + state + overhead + headroom_bytes
    return MemoryEstimate(
        weights_bytes=w_bytes, kv_bytes_per_token=per_token, kv_bytes=kv, state_bytes=state,
        overhead_bytes=overhead, headroom_bytes=headroom_bytes, total_bytes=total, ctx=ctx,
        parallel=parallel, kv_dtype=kv_dtype, engine=engine, quant=qname, swa_kv_bytes=swa_bytes,
        kv_tokens=kv_tokens, kv_needed_bytes=kv_needed, reserved_bytes=reserved,
        weights_estimated=w_est,
    )
