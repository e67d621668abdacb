"""Decode speed from a cost model of one token, term by term, on one (hardware, engine).

    t_token = token + sum over ggml types of bytes_type / bandwidth_type
              + layers x layer + moe_layers x experts_used x expert
              + expert_bytes x expert_extra (routed experts read slower than dense weights)
              + kv_bytes(depth) / kv_bandwidth
              + served x (server_token + server_vocab x n_vocab)

Bytes are what one decoded token reads: every weight outside the routed experts (lm_head
included, the input table not), the top-k experts of every MoE layer, and the KV cache at
depth d (sliding-window layers at most their window; recurrent state read and written).
`served` is llama-server's per-token work beyond llama-bench (sampling over the vocabulary,
the slot loop). The terms are fitted by `lanekit calibrate`; `catalog.terms` picks which apply.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from lanekit.catalog.memory import expert_scheme, kv_bytes_per_token, swa_kv_bytes_per_token
from lanekit.catalog.quants import get_scheme, gguf_types
from lanekit.catalog.shapes import ModelShape

GB = 1e9
SCHEMA_VERSION = 1
Origin = Literal["calibrated", "shipped", "estimate"]
ORIGIN_LABEL = {"calibrated": "calibrated here", "shipped": "shipped", "estimate": "estimate"}


class SpeedTerms(BaseModel):
    """Fitted cost terms for one (hardware, engine); bandwidths in GB/s, latencies in µs / ns.

    `bandwidth_gb_s` is the effective bandwidth per ggml weight type (Q4_K is read slower than
    Q8_0 on the same GPU); types it lacks are read at `default_bandwidth_gb_s`.
    """

    schema_version: int = SCHEMA_VERSION
    hardware: str
    engine: str = "llamacpp"
    origin: Origin = "estimate"
    source: str = ""
    bandwidth_gb_s: dict[str, float] = Field(default_factory=dict)
    default_bandwidth_gb_s: float = Field(gt=0)
    kv_bandwidth_gb_s: float | None = Field(default=None, gt=0)
    token_us: float = Field(default=0.0, ge=0)
    layer_us: float = Field(default=0.0, ge=0)
    expert_us: float = Field(default=0.0, ge=0)
    expert_extra_ps_per_byte: float = Field(default=0.0, ge=0, description="extra time per routed-expert byte")
    server_token_us: float = Field(default=0.0, ge=0)
    server_vocab_ns: float = Field(default=0.0, ge=0)
    identity: dict[str, Any] = Field(default_factory=dict, description="the machine it was measured on")
    flags: dict[str, Any] = Field(default_factory=dict, description="engine flags it was measured with")
    measured_at: str | None = None
    fit: dict[str, Any] = Field(default_factory=dict, description="points, residuals, held-out check")

    @property
    def label(self) -> str:
        """`calibrated here` / `shipped` / `estimate`, for a table column."""
        return ORIGIN_LABEL[self.origin]

    def bandwidth_for(self, ggml_type: str) -> float:
        """Effective GB/s for weights stored as `ggml_type`."""
        return self.bandwidth_gb_s.get(ggml_type.upper(), self.default_bandwidth_gb_s)


class DecodeWorkload(BaseModel):
    """What one decoded token costs in bytes and kernel calls, independent of the machine."""

    type_bytes: dict[str, float]  # weight bytes read per token, by ggml type
    n_layers: int
    expert_calls: int = 0  # MoE layers x experts used
    expert_bytes: float = 0.0  # part of type_bytes that is routed experts
    n_vocab: int = 0
    kv_bytes: float = 0.0  # KV cache (and recurrent state) bytes read per token at `depth`
    depth: int = 0

    @property
    def weight_bytes(self) -> float:
        """All weight bytes one token reads."""
        return sum(self.type_bytes.values())


class Prediction(BaseModel):
    """A predicted batch-1 decode speed, its parts in µs per token, and where the terms came from."""

    tok_s: float
    seconds_per_token: float
    depth: int
    served: bool
    origin: Origin
    source: str
    parts_us: dict[str, float]
    fallback_types: list[str] = Field(default_factory=list, description="types read at the default bandwidth")

    @property
    def label(self) -> str:
        """Short provenance: calibrated here / shipped / estimate."""
        return ORIGIN_LABEL[self.origin]


def _type_bits(name: str) -> float:
    """Stored bits per weight of a ggml type (or of a checkpoint scheme such as FP8)."""
    import gguf

    try:
        block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]]
        return 8.0 * size / block
    except KeyError:
        return get_scheme(name).bits_per_weight


def _spread(params: float, shares: dict[str, float]) -> dict[str, float]:
    """Bytes per type of `params` weights stored with the byte `shares` given."""
    if params <= 0:
        return {}
    avg_bits = 1.0 / sum(share / _type_bits(t) for t, share in shares.items())
    total = params * avg_bits / 8
    return {t: total * share for t, share in shares.items()}


def _add(into: dict[str, float], more: dict[str, float], scale: float = 1.0) -> None:
    for key, value in more.items():
        into[key.upper()] = into.get(key.upper(), 0.0) + value * scale


def weight_type_bytes(shape: ModelShape, quant: str | None = None) -> dict[str, float]:
    """Weight bytes one token reads, by ggml type: exact from a GGUF's tensor table, else priced.

    Priced shapes split their parameters like llama-quantize does (`quants.gguf_types`);
    checkpoint quants keep lm_head (and, for expert-only schemes, the rest) at bf16.
    """
    return _type_bytes(shape, quant)[0]


def _type_bytes(shape: ModelShape, quant: str | None) -> tuple[dict[str, float], float]:
    """(bytes per type, of which routed experts) one token reads."""
    moe = shape.is_moe and bool(shape.expert_ffn)
    same_file = quant is None or (shape.quant or "").upper() == quant.upper()
    if same_file and shape.dense_type_bytes is not None:
        out: dict[str, float] = {}
        _add(out, {k: float(v) for k, v in shape.dense_type_bytes.items()})
        experts = 0.0
        if shape.expert_type_bytes and shape.n_experts:
            share = shape.n_experts_used / shape.n_experts if moe else 1.0
            _add(out, {k: float(v) for k, v in shape.expert_type_bytes.items()}, share)
            experts = sum(shape.expert_type_bytes.values()) * share if moe else 0.0
        return out, experts
    scheme = get_scheme(quant or shape.quant or "BF16")
    k = shape.n_experts_used if moe else 0
    expert_active = 3 * shape.hidden_size * (shape.expert_ffn or 0) * k * shape.n_layers if moe else 0
    lm_head = shape.vocab_size * shape.hidden_size
    dense = max(shape.active_params - expert_active - lm_head, 0)
    out = {}
    if scheme.gguf:
        rows = shape.hidden_size
        _add(out, _spread(dense, gguf_types(scheme.name, "attn" if moe else "ffn", rows)))
        out_type = next(iter(gguf_types(scheme.name, "output", rows)))
        _add(out, {out_type: lm_head * _type_bits(out_type) / 8})
        kept = expert_scheme(shape, scheme)
        experts = _spread(expert_active, gguf_types(kept.name, "ffn", rows))
        _add(out, experts)
        return out, sum(experts.values())
    experts_b = expert_active * scheme.bits_per_weight / 8
    if scheme.scope == "experts":
        _add(out, {"BF16": (dense + lm_head) * scheme.kept_bits / 8, scheme.name: experts_b})
    else:
        _add(out, {scheme.name: dense * scheme.bits_per_weight / 8 + experts_b, "BF16": lm_head * scheme.kept_bits / 8})
    return {t: b for t, b in out.items() if b > 0}, experts_b


def kv_read_bytes(shape: ModelShape, depth: int, kv_dtype: str = "f16") -> float:
    """KV bytes one token reads at `depth` tokens of context, plus the recurrent state it rewrites."""
    window = shape.sliding_window or 0
    swa = swa_kv_bytes_per_token(shape, kv_dtype) * (min(depth, window) if window else depth)
    return kv_bytes_per_token(shape, kv_dtype) * depth + swa + 2.0 * shape.linear_state_bytes


def decode_workload(shape: ModelShape, *, quant: str | None = None, depth: int = 0,
                    kv_dtype: str = "f16") -> DecodeWorkload:
    """The bytes and calls one decoded token costs for `shape` (at `quant`) at `depth`."""
    moe = shape.is_moe and bool(shape.expert_ffn or shape.expert_type_bytes)
    type_bytes, expert_bytes = _type_bytes(shape, quant)
    return DecodeWorkload(
        type_bytes=type_bytes, n_layers=shape.n_layers, expert_bytes=expert_bytes,
        expert_calls=shape.n_layers * shape.n_experts_used if moe else 0, n_vocab=shape.vocab_size,
        kv_bytes=kv_read_bytes(shape, depth, kv_dtype), depth=depth,
    )


def predict(workload: DecodeWorkload, terms: SpeedTerms, *, served: bool = True) -> Prediction:
    """Predicted batch-1 decode speed of `workload` under `terms` (`served`: through llama-server)."""
    weights_s = sum(b / (terms.bandwidth_for(t) * GB) for t, b in workload.type_bytes.items())
    kv_bw = terms.kv_bandwidth_gb_s or terms.default_bandwidth_gb_s
    parts = {
        "token": terms.token_us,
        "weights": weights_s * 1e6,
        "layers": workload.n_layers * terms.layer_us,
        "experts": workload.expert_calls * terms.expert_us
        + workload.expert_bytes * terms.expert_extra_ps_per_byte * 1e-6,
        "kv": workload.kv_bytes / (kv_bw * GB) * 1e6,
        "server": (terms.server_token_us + terms.server_vocab_ns * workload.n_vocab / 1000.0) if served else 0.0,
    }
    seconds = sum(parts.values()) * 1e-6
    fallback = sorted(t for t, b in workload.type_bytes.items()
                      if t.upper() not in terms.bandwidth_gb_s and b > 0.01 * workload.weight_bytes)
    return Prediction(tok_s=1.0 / seconds if seconds > 0 else float("inf"), seconds_per_token=seconds,
                      depth=workload.depth, served=served, origin=terms.origin, source=terms.source,
                      parts_us={k: round(v, 3) for k, v in parts.items()},
                      fallback_types=fallback if terms.bandwidth_gb_s else [])


def predict_shape(shape: ModelShape, terms: SpeedTerms, *, quant: str | None = None, depth: int = 0,
                  kv_dtype: str = "f16", served: bool = True) -> Prediction:
    """`predict` for a model shape at `depth` tokens of context."""
    return predict(decode_workload(shape, quant=quant, depth=depth, kv_dtype=kv_dtype), terms, served=served)
