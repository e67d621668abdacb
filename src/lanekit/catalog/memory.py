"""Memory envelope of one lane: weights + KV cache + recurrent state + engine overhead + headroom.

KV per token follows the attention layout (GQA, sliding window, MLA latents, hybrid linear
attention). `ctx` means the context one request may use, for every engine (as in lanes.yaml);
the total the engine is sized for is ctx x parallel.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from lanekit.catalog.quants import QuantScheme, get_scheme, kv_bytes_per_element, weights_bytes_for
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
    """The arithmetic for one lane; `total_bytes` is what it needs from the memory pool.

    `ctx` is the context one request may use, for every engine; the engine is sized for
    `total_ctx` = ctx x parallel tokens (llama.cpp `-c`, or every vLLM sequence at full length).
    """

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
    total_ctx: int = 0  # ctx x parallel
    swa_kv_bytes: int = 0  # part of kv_bytes held by sliding-window layers (capped at the window)
    kv_tokens: int = 0  # tokens of context the global-attention KV is sized for
    kv_needed_bytes: int = 0  # KV every sequence at full length needs (ctx x parallel)
    kv_one_sequence_bytes: int = 0  # KV one full-length request needs (vLLM's start-up check)
    reserved_bytes: int | None = None  # vLLM/SGLang: the fraction of the pool taken at start
    gpu_memory_utilization: float | None = None
    utilization_assumed: bool = False  # the lane left it unset; the engine's default was assumed
    full_length_sequences: int | None = None  # vLLM: full-length requests the reserved KV pool holds
    problems: list[str] = Field(default_factory=list)  # the engine will refuse to start
    weights_estimated: bool = False

    def explain(self) -> list[str]:
        """Human lines showing each term of the sum."""
        lines = [
            f"weights   {fmt_bytes(self.weights_bytes)}"
            + (f" ({self.quant}{', estimated' if self.weights_estimated else ', exact from file'})"
               if self.quant else ""),
        ]
        if self.full_length_sequences is None:
            lines.append(f"kv        {fmt_bytes(self.kv_bytes)} = {self.kv_bytes_per_token:,} B/token x "
                         f"{self.kv_tokens:,} ({self.ctx:,} x {self.parallel}, {self.kv_dtype})")
            if self.swa_kv_bytes:
                lines.append(f"          incl. {fmt_bytes(self.swa_kv_bytes)} for the windowed layers")
        else:
            lines.append(f"kv        {fmt_bytes(self.kv_bytes)} KV pool ({self.kv_dtype}): "
                         f"{self.full_length_sequences} full-length request(s) of {self.ctx:,}")
            lines.append(f"          one needs {fmt_bytes(self.kv_one_sequence_bytes)}; all {self.parallel} at full "
                         f"length {fmt_bytes(self.kv_needed_bytes)}")
        if self.state_bytes:
            lines.append(f"state     {fmt_bytes(self.state_bytes)} recurrent state x {self.parallel} sequences")
        lines += [
            f"overhead  {fmt_bytes(self.overhead_bytes)} ({self.engine} runtime, compute buffers)",
            f"headroom  {fmt_bytes(self.headroom_bytes)}",
        ]
        if self.reserved_bytes is not None:
            util = f"{self.gpu_memory_utilization:g}" if self.gpu_memory_utilization else "?"
            lines.append(f"reserved  {fmt_bytes(self.reserved_bytes)} = {util} x pool, taken at start"
                         + (" (default: unset)" if self.utilization_assumed else ""))
        lines.append(f"total     {fmt_bytes(self.total_bytes)}")
        lines += [f"problem   {p}" for p in self.problems]
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


def expert_scheme(shape: ModelShape, scheme: QuantScheme) -> QuantScheme:
    """The scheme the routed experts are stored in when a file of `scheme` is made from `shape`.

    Checkpoints whose experts ship quantized (gpt-oss: MXFP4) keep them as they are in every
    GGUF: convert_hf_to_gguf writes the MXFP4 blocks through and llama-quantize refuses to
    requantize them, so only the other tensors follow the file type (Q4_K_M: ~62 GB, not 71).
    """
    if not scheme.gguf or not shape.quant or not expert_params(shape):
        return scheme
    try:
        native = get_scheme(shape.quant)
    except ConfigError:
        return scheme
    if native.scope == "experts" and not native.gguf:
        return get_scheme("MXFP4_MOE") if native.name == "MXFP4" else native
    return scheme


def weights_bytes(shape: ModelShape, quant: str | None = None) -> tuple[int, bool, str | None]:
    """(bytes, estimated?, quant name) for the weights, exact when the shape came from a file."""
    same = quant is None or (shape.quant is not None and quant.upper() == shape.quant.upper())
    if same and shape.weights_bytes:
        return shape.weights_bytes, False, shape.quant
    scheme = get_scheme(quant or shape.quant or "BF16")
    experts = expert_params(shape)
    if shape.expert_weights_bytes and shape.weights_bytes and shape.total_params:
        experts = int(shape.total_params * shape.expert_weights_bytes / shape.weights_bytes)
    kept = expert_scheme(shape, scheme)
    if kept is not scheme and scheme.scope == "all":
        n = int(experts * kept.bits_per_weight / 8 + (shape.total_params - experts) * scheme.bits_per_weight / 8)
        return n, True, scheme.name
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
    utilization_assumed: bool = False,
    kv_pool_bytes: int | None = None,
    overhead_bytes: int | None = None,
) -> MemoryEstimate:
    """Estimate what a lane serving `shape` needs from the memory pool.

    `ctx` is the context ONE request may use (lanes.yaml `ctx`, `fit --ctx`), for every engine;
    `parallel` requests may each use that much:
    - llamacpp: llama-server gets `-c ctx x parallel` shared by `-np parallel` slots, so KV =
      kv_bytes_per_token x ctx x parallel; sliding-window layers hold min(total, window x
      parallel + ubatch) cells; recurrent state x parallel sequences.
    - ollama: the same (OLLAMA_CONTEXT_LENGTH x OLLAMA_NUM_PARALLEL).
    - vllm / sglang: `--max-model-len ctx`, `--max-num-seqs parallel`. Without a reservation the
      KV is every sequence at full length (ctx x parallel). With `gpu_memory_utilization` and
      `pool_bytes` the engine takes that share of the whole pool at start (on unified memory,
      of the whole box) and fills what weights leave with KV blocks; that pool must hold ONE
      full-length request (vLLM refuses to start otherwise), not ctx x parallel, and
      `full_length_sequences` says how many it holds. `kv_pool_bytes` (vLLM
      `--kv-cache-memory-bytes`) fixes the KV pool instead.

    `headroom_bytes` defaults to max(2 GiB, 5% of `pool_bytes`); total = weights + kv + state +
    overhead + headroom (vLLM: the reservation + headroom when that is larger).
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
    total_ctx = ctx * parallel
    if engine in ("llamacpp", "ollama"):
        swa_tokens = min(total_ctx, window * parallel + LLAMACPP_UBATCH) if window else total_ctx
    else:  # one cache per sequence, each capped at the window
        swa_tokens = (min(ctx, window) if window else ctx) * parallel
    swa_bytes = swa_per_token * swa_tokens
    kv = per_token * total_ctx + swa_bytes
    one_seq = per_token * ctx + swa_per_token * (min(ctx, window) if window else ctx)
    state = shape.linear_state_bytes * parallel
    overhead = default_overhead_bytes(shape, engine) if overhead_bytes is None else overhead_bytes
    if headroom_bytes is None:
        headroom_bytes = max(2 * GIB, int(0.05 * pool_bytes)) if pool_bytes else 2 * GIB
    kv_needed = kv
    reserved = full = None
    problems: list[str] = []
    per_engine = engine in ("vllm", "sglang")
    if per_engine and kv_pool_bytes:
        kv = int(kv_pool_bytes)
        full = kv // one_seq if one_seq else None
        if kv < one_seq:
            problems.append(f"{engine} refuses to start: the fixed KV pool ({fmt_bytes(kv)}) is short of one "
                            f"{ctx:,}-token request ({fmt_bytes(one_seq)})")
    elif per_engine and gpu_memory_utilization and pool_bytes:
        reserved = int(gpu_memory_utilization * pool_bytes)
        kv = max(reserved - w_bytes - state - overhead, 0)
        full = kv // one_seq if one_seq else None
        if kv < one_seq:
            problems.append(f"{engine} refuses to start: {gpu_memory_utilization:g} x pool = {fmt_bytes(reserved)} "
                            f"leaves {fmt_bytes(kv)} for KV, short of one {ctx:,}-token request "
                            f"({fmt_bytes(one_seq)})")
    total = w_bytes + kv + state + overhead + headroom_bytes
    if reserved is not None:
        total = max(total, reserved + headroom_bytes)
    return MemoryEstimate(
        weights_bytes=w_bytes, kv_bytes_per_token=per_token, kv_bytes=kv, state_bytes=state,
        overhead_bytes=overhead, headroom_bytes=headroom_bytes, total_bytes=total, ctx=ctx,
        parallel=parallel, kv_dtype=kv_dtype, engine=engine, quant=qname, total_ctx=total_ctx,
        swa_kv_bytes=swa_bytes, kv_tokens=total_ctx, kv_needed_bytes=kv_needed, kv_one_sequence_bytes=one_seq,
        reserved_bytes=reserved, gpu_memory_utilization=gpu_memory_utilization if reserved is not None else None,
        utilization_assumed=utilization_assumed and reserved is not None, full_length_sequences=full,
        problems=problems, weights_estimated=w_est,
    )
