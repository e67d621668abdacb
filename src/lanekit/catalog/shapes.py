"""ModelShape: the numbers sizing needs about one model, wherever they were read from.

A shape comes from a GGUF header, an HF `config.json`, or a built-in catalog entry; every
estimator in `catalog/` takes one and nothing else about the model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModelShape(BaseModel):
    """Architecture, parameter counts and (when read from a file) exact weight bytes.

    Attention layout, in the terms every KV formula uses:
    - `n_layers` transformer blocks; `n_full_attn_layers` of them grow KV with context when the
      model is a hybrid (linear attention / Gated DeltaNet / Mamba), `None` meaning all of them.
    - `n_swa_layers` of the attention layers only keep `sliding_window` tokens.
    - `kv_lora_rank` set means MLA: one latent of `kv_lora_rank + qk_rope_head_dim` per layer.
    - `swa_n_kv_heads` / `swa_head_dim` override the KV geometry of the windowed layers
      (Gemma 4 uses smaller heads locally than globally); `head_dim_v` overrides V's width.
    - `linear_state_bytes` is the fixed recurrent state one sequence holds in all linear/SSM
      layers together (f32), independent of context.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    arch: str
    n_layers: int = Field(ge=1)
    n_heads: int = Field(ge=0)
    n_kv_heads: int = Field(ge=0)
    head_dim: int = Field(ge=0)
    hidden_size: int = Field(ge=0)
    vocab_size: int = Field(ge=0)
    context_length: int = Field(ge=0, description="trained/native context in tokens")
    sliding_window: int | None = None
    n_swa_layers: int = Field(default=0, ge=0, description="layers that use the sliding window")
    n_full_attn_layers: int | None = Field(
        default=None, description="hybrid models: attention layers that grow KV; None = all layers"
    )
    n_experts: int = 0
    n_experts_used: int = 0
    expert_ffn: int | None = None
    ffn_size: int | None = Field(default=None, description="dense FFN width (intermediate_size), dense models")
    n_shared_experts: int = 0
    total_params: int = Field(ge=0)
    active_params: int = Field(
        ge=0, description="parameters read per decoded token: top-k experts only, and no input "
        "embedding table (one row is read) unless it is tied to lm_head"
    )
    weights_bytes: int | None = Field(default=None, description="exact tensor bytes when read from a file")
    quant: str | None = None
    estimated: bool = False
    chat_template: str | None = None

    # Optional detail; defaults reproduce the plain GQA case.
    head_dim_v: int | None = None
    swa_n_kv_heads: int | None = None
    swa_head_dim: int | None = None
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    linear_state_bytes: int = Field(default=0, ge=0, description="fixed per-sequence state, bytes")
    expert_weights_bytes: int | None = Field(
        default=None, description="bytes of routed-expert tensors (GGUF), for active-bytes arithmetic"
    )
    embedding_bytes: int | None = Field(
        default=None, description="bytes of the input embedding table, not read per token unless tied"
    )
    tied_embeddings: bool = False
    dense_type_bytes: dict[str, int] | None = Field(
        default=None, description="GGUF: bytes every decoded token reads outside the routed experts, by ggml "
        "type (the input embedding table is left out unless it is tied to lm_head)"
    )
    expert_type_bytes: dict[str, int] | None = Field(
        default=None, description="GGUF: bytes of all routed-expert tensors by ggml type (a token reads k/E)"
    )
    hf_id: str | None = None
    aliases: list[str] = Field(default_factory=list)
    source: str = "catalog"
    notes: str = ""

    @property
    def is_moe(self) -> bool:
        """True when tokens are routed to a subset of experts."""
        return self.n_experts > 0 and 0 < self.n_experts_used < self.n_experts

    @property
    def is_hybrid(self) -> bool:
        """True when only some layers are attention (linear attention / SSM hybrids)."""
        return self.n_full_attn_layers is not None and self.n_full_attn_layers < self.n_layers

    @property
    def is_mla(self) -> bool:
        """True for multi-head latent attention (DeepSeek-style compressed KV)."""
        return bool(self.kv_lora_rank)

    @property
    def n_attn_layers(self) -> int:
        """Layers that keep any KV at all (full plus windowed)."""
        return self.n_layers if self.n_full_attn_layers is None else self.n_full_attn_layers + self.n_swa_layers

    @property
    def n_global_layers(self) -> int:
        """Attention layers whose KV grows with the whole context."""
        if self.n_full_attn_layers is not None:
            return self.n_full_attn_layers
        return self.n_layers - self.n_swa_layers

    @property
    def bits_per_weight(self) -> float | None:
        """Average stored bits per parameter, when the weights' bytes are known."""
        if not self.weights_bytes or not self.total_params:
            return None
        return self.weights_bytes * 8 / self.total_params
