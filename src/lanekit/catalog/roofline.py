"""Decode speed from bytes: the bandwidth ceiling, and the calibrated prediction beside it.

Ceiling at batch 1 = bandwidth / bytes read per token. At batch B a MoE step reads the
experts any of the B tokens routed to (expected distinct experts), so aggregate tok/s grows
sublinearly. The prediction is `catalog.predict`'s cost model under the terms
`catalog.terms` resolves (calibrated here, shipped, or a generic estimate), at a given depth.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from lanekit.catalog.hardware import GB, DecodeTerms, HardwareProfile
from lanekit.catalog.memory import expert_scheme
from lanekit.catalog.predict import SpeedTerms, predict_shape
from lanekit.catalog.quants import get_scheme
from lanekit.catalog.shapes import ModelShape
from lanekit.errors import ConfigError

DEFAULT_DEPTH = 1024  # tokens of context a prediction is quoted at unless asked otherwise


class ActiveBytes(BaseModel):
    """Bytes one decode step reads, split into the part every token shares and the experts."""

    dense_bytes: int  # attention / linear mixers, shared experts, router, norms, lm_head
    expert_bytes_per_expert_layer: float  # one routed expert in one layer
    moe_layers: int
    experts_used: int
    n_experts: int

    @property
    def per_token_bytes(self) -> int:
        """Batch 1: dense part plus top-k experts in every MoE layer."""
        return int(self.dense_bytes + self.expert_bytes_per_expert_layer * self.moe_layers * self.experts_used)


def expected_distinct_experts(n_experts: int, experts_used: int, batch: int) -> float:
    """Experts a layer touches for `batch` tokens routed uniformly: E x (1 - (1 - k/E)^B)."""
    if n_experts <= 0 or experts_used <= 0:
        return 0.0
    return n_experts * (1.0 - (1.0 - experts_used / n_experts) ** max(batch, 1))


def active_bytes(shape: ModelShape, quant: str | None = None) -> ActiveBytes:
    """Bytes read per decoded token, from exact GGUF tensor bytes when the quant is the file's own.

    Otherwise parameters are priced with the quant scheme: "all" schemes at their average
    bits, "linear" schemes keep lm_head at `kept_bits`, "experts" schemes (MXFP4) keep
    everything but the routed experts at `kept_bits`.
    """
    moe = shape.is_moe and bool(shape.expert_ffn)
    n_exp, k = (shape.n_experts, shape.n_experts_used) if moe else (0, 0)
    same_file = quant is None or (shape.quant or "").upper() == quant.upper()
    if same_file and shape.weights_bytes:
        expert_total = shape.expert_weights_bytes or 0
        embd = shape.embedding_bytes or 0
        dense = shape.weights_bytes - expert_total - (0 if shape.tied_embeddings else embd)
        per_expert_layer = expert_total / (shape.n_layers * n_exp) if moe and expert_total else 0.0
        if not moe and expert_total:
            dense += expert_total
        return ActiveBytes(dense_bytes=dense, expert_bytes_per_expert_layer=per_expert_layer,
                           moe_layers=shape.n_layers if per_expert_layer else 0, experts_used=k, n_experts=n_exp)
    scheme = get_scheme(quant or shape.quant or "BF16")
    expert_params_layer = 3 * shape.hidden_size * (shape.expert_ffn or 0) if moe else 0
    active_expert_params = expert_params_layer * k * shape.n_layers
    dense_params = max(shape.active_params - active_expert_params, 0)
    lm_head = shape.vocab_size * shape.hidden_size
    if scheme.scope == "all":
        dense_bits, expert_bits = scheme.bits_per_weight, expert_scheme(shape, scheme).bits_per_weight
        dense = dense_params * dense_bits / 8
    elif scheme.scope == "linear":
        expert_bits = scheme.bits_per_weight
        dense = (dense_params - lm_head) * scheme.bits_per_weight / 8 + lm_head * scheme.kept_bits / 8
    else:  # "experts": only routed experts are quantized
        expert_bits = scheme.bits_per_weight
        dense = dense_params * scheme.kept_bits / 8
    return ActiveBytes(dense_bytes=int(dense), expert_bytes_per_expert_layer=expert_params_layer * expert_bits / 8,
                       moe_layers=shape.n_layers if moe else 0, experts_used=k, n_experts=n_exp)


def bytes_per_step(ab: ActiveBytes, batch: int = 1, kv_bytes_read: int = 0) -> float:
    """Bytes one decode step of `batch` sequences reads: shared weights once, distinct experts,
    plus `kv_bytes_read` (all sequences' KV caches)."""
    distinct = expected_distinct_experts(ab.n_experts, ab.experts_used, batch) if ab.moe_layers else 0.0
    return ab.dense_bytes + ab.expert_bytes_per_expert_layer * ab.moe_layers * distinct + kv_bytes_read


def decode_ceiling_tok_s(bytes_read_per_token: float, bandwidth_gb_s: float) -> float:
    """Batch-1 roofline: bandwidth / bytes per token (tokens per second)."""
    if bytes_read_per_token <= 0:
        return float("inf")
    return bandwidth_gb_s * GB / bytes_read_per_token


def aggregate_ceiling_tok_s(ab: ActiveBytes, bandwidth_gb_s: float, batch: int, kv_bytes_read: int = 0) -> float:
    """Tokens per second summed over `batch` sequences when every step is bandwidth-bound."""
    return batch * bandwidth_gb_s * GB / bytes_per_step(ab, batch, kv_bytes_read)


def prefill_ceiling_tok_s(shape: ModelShape, tflops: float | None) -> float | None:
    """Compute roofline for prompt processing: 2 x active parameters FLOPs per token."""
    if not tflops or not shape.active_params:
        return None
    return tflops * 1e12 / (2 * shape.active_params)


def predicted_token_s(bytes_read_per_token: float, n_layers: int, terms: DecodeTerms) -> float:
    """Seconds per token: bytes / effective bandwidth + layers x per-layer latency."""
    return bytes_read_per_token / (terms.effective_bandwidth_gb_s * GB) + n_layers * terms.per_layer_latency_us * 1e-6


def predicted_decode_tok_s(bytes_read_per_token: float, n_layers: int, terms: DecodeTerms) -> float:
    """Predicted batch-1 decode speed (tokens per second) under `terms`."""
    return 1.0 / predicted_token_s(bytes_read_per_token, n_layers, terms)


def calibrate(points: Sequence[tuple[float, int, float]], source: str = "calibrated") -> DecodeTerms:
    """Fit DecodeTerms from (bytes_read_per_token, n_layers, seconds_per_token) measurements.

    Least squares on t = bytes x a + layers x b. Two files of the same shape at different quants
    (same layers, different bytes) pin both terms; raises ConfigError when the points cannot.
    """
    if len(points) < 2:
        raise ConfigError("calibration needs at least two measurements",
                          fix="measure two files of different size on the same lane")
    sxx = sum(b * b for b, _, _ in points)
    sxy = sum(b * n for b, n, _ in points)
    syy = sum(n * n for _, n, _ in points)
    sxt = sum(b * t for b, _, t in points)
    syt = sum(n * t for _, n, t in points)
    det = sxx * syy - sxy * sxy
    if abs(det) < 1e-12 * max(sxx * syy, 1e-30):
        raise ConfigError("calibration points are degenerate (same size and layer count)",
                          fix="use two files whose sizes differ, e.g. Q4_0 and Q8_0 of one model")
    a = (sxt * syy - sxy * syt) / det  # seconds per byte
    b = (sxx * syt - sxy * sxt) / det  # seconds per layer
    if a <= 0:
        raise ConfigError("calibration gave a non-positive bandwidth term (bigger file was not slower)",
                          fix="repeat the measurement with longer runs, or files further apart in size")
    return DecodeTerms(effective_bandwidth_gb_s=1.0 / a / GB, per_layer_latency_us=max(b, 0.0) * 1e6,
                       source=source, estimated=False)


class Roofline(BaseModel):
    """Ceiling and prediction side by side for one model on one box (tok/s, bytes per token).

    `predicted_decode_tok_s` is single-stream decode through the engine's server at `depth`
    tokens of context; `predicted_bench_tok_s` the same without the server's per-token work
    (what llama-bench measures). `prediction_source` says where the terms came from.
    """

    bytes_read_per_token: int
    bandwidth_gb_s: float
    decode_ceiling_tok_s: float
    predicted_decode_tok_s: float
    predicted_bench_tok_s: float | None = None
    depth: int = DEFAULT_DEPTH
    prediction_origin: str = "estimate"
    prediction_source: str = ""
    aggregate_ceiling_tok_s: float | None = None
    prefill_ceiling_tok_s: float | None = None
    batch: int = 1
    terms: SpeedTerms


def decode_roofline(shape: ModelShape, hw: HardwareProfile, *, engine: str = "llamacpp", quant: str | None = None,
                    batch: int = 1, depth: int = DEFAULT_DEPTH, kv_dtype: str = "f16",
                    terms: SpeedTerms | None = None) -> Roofline:
    """Batch-1 ceiling, calibrated prediction at `depth`, and (batch > 1) the aggregate ceiling on `hw`.

    The ceiling uses the measured bandwidth when the profile carries one, else the spec sheet's
    peak; the prediction uses `terms`, by default the ones `catalog.terms.resolve_terms` picks.
    """
    from lanekit.catalog.terms import resolve_terms

    ab = active_bytes(shape, quant)
    per_token = ab.per_token_bytes
    bandwidth = hw.measured_bandwidth_gb_s or hw.bandwidth_gb_s
    terms = terms or resolve_terms(hw, engine)
    kv = kv_dtype if kv_dtype in ("f16", "bf16", "q8_0", "q4_0", "fp8", "f32", "auto") else "f16"
    served = predict_shape(shape, terms, quant=quant, depth=depth, kv_dtype=kv, served=True)
    bench = predict_shape(shape, terms, quant=quant, depth=depth, kv_dtype=kv, served=False)
    return Roofline(
        bytes_read_per_token=per_token, bandwidth_gb_s=bandwidth,
        decode_ceiling_tok_s=decode_ceiling_tok_s(per_token, bandwidth),
        predicted_decode_tok_s=served.tok_s, predicted_bench_tok_s=bench.tok_s if engine == "llamacpp" else None,
        depth=depth, prediction_origin=terms.origin, prediction_source=f"{terms.label}: {terms.source}",
        aggregate_ceiling_tok_s=aggregate_ceiling_tok_s(ab, bandwidth, batch) if batch > 1 else None,
        prefill_ceiling_tok_s=prefill_ceiling_tok_s(shape, hw.bf16_tflops), batch=batch, terms=terms,
    )


def speed_summary(shape: ModelShape, hw: HardwareProfile, engine: str, quant: str | None = None,
                  batch: int = 1, depth: int = DEFAULT_DEPTH) -> dict[str, float | int | str | None]:
    """`decode_roofline` as a plain dict of its numbers."""
    return decode_roofline(shape, hw, engine=engine, quant=quant, batch=batch,
                           depth=depth).model_dump(exclude={"terms"})
