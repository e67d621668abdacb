"""Quantization schemes: stored bits per weight including scales, and what each one covers.

GGUF schemes are llama.cpp file types whose effective bits per weight are measured averages
over whole files (K-quant mixes keep some tensors at Q6_K). Checkpoint schemes (FP8, NVFP4,
MXFP4, AWQ, GPTQ) quantize linear layers only; embeddings, norms and routers stay bf16.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from lanekit.errors import ConfigError

Scope = Literal["all", "linear", "experts"]


@dataclass(frozen=True)
class QuantScheme:
    """One way of storing weights.

    `bits_per_weight` covers the quantized tensors including their scales/zero points;
    `kept_bits` is what the tensors outside `scope` are stored at. `scope`:
    "all" = the whole file averages `bits_per_weight` (GGUF mixes), "linear" = every linear
    layer except embeddings / lm_head, "experts" = routed-expert tensors only.
    """

    name: str
    bits_per_weight: float
    scope: Scope
    kept_bits: float = 16.0
    gguf: bool = False
    note: str = ""


def _group_bits(bits: int, group: int, scale_bits: int, zero_bits: int) -> float:
    return bits + (scale_bits + zero_bits) / group


# Formula for each: payload bits + scale bits / block elements. GGUF block sizes from ggml
# (Q4_0: 32 weights in 18 bytes = 4.5 b; Q8_0: 34 bytes / 32 = 8.5 b; Q4_K: 144 B / 256 = 4.5 b;
# Q5_K 5.5 b; Q6_K 6.5625 b). Mix averages (Q4_K_M 4.87 b) measured on Qwen3 / Llama 3 files.
_SCHEMES: dict[str, QuantScheme] = {
    s.name: s
    for s in [
        QuantScheme("F32", 32.0, "all", 32.0, gguf=True),
        QuantScheme("F16", 16.0, "all", 16.0, gguf=True),
        QuantScheme("BF16", 16.0, "all", 16.0, gguf=True, note="also the unquantized HF checkpoint"),
        QuantScheme("Q8_0", 8.5, "all", 8.5, gguf=True, note="32 weights + f16 scale"),
        QuantScheme("Q6_K", 6.5625, "all", 6.5625, gguf=True, note="256-weight super-blocks"),
        QuantScheme("Q5_K_M", 5.70, "all", 5.70, gguf=True, note="Q5_K with Q6_K attn_v/ffn_down halves"),
        QuantScheme("Q5_K_S", 5.52, "all", 5.52, gguf=True),
        QuantScheme("Q5_0", 5.54, "all", 5.54, gguf=True),
        QuantScheme("Q4_K_M", 4.87, "all", 4.87, gguf=True, note="Q4_K with Q6_K attn_v/ffn_down halves"),
        QuantScheme("Q4_K_S", 4.58, "all", 4.58, gguf=True),
        QuantScheme("Q4_1", 5.0, "all", 5.0, gguf=True, note="32 weights + f16 scale + f16 min"),
        QuantScheme("Q4_0", 4.55, "all", 4.55, gguf=True, note="32 weights + f16 scale; output Q6_K"),
        QuantScheme("IQ4_XS", 4.46, "all", 4.46, gguf=True),
        QuantScheme("IQ4_NL", 4.55, "all", 4.55, gguf=True),
        QuantScheme("Q3_K_M", 3.91, "all", 3.91, gguf=True),
        QuantScheme("Q2_K", 3.0, "all", 3.0, gguf=True),
        QuantScheme("MXFP4_MOE", 4.25, "experts", 8.5, gguf=True,
                    note="GGUF: experts MXFP4 (32 x e2m1 + e8m0 scale), the rest Q8_0"),
        QuantScheme("FP8", 8.0 + 32 / (128 * 128), "linear", 16.0,
                    note="e4m3 weights, f32 scale per 128x128 block (or per channel)"),
        QuantScheme("FP8_DYNAMIC", 8.0 + 32 / 4096, "linear", 16.0, note="e4m3, per-channel f32 scale"),
        QuantScheme("NVFP4", 4.0 + 8 / 16, "linear", 16.0,
                    note="e2m1 weights, e4m3 scale per 16, f32 per tensor"),
        QuantScheme("MXFP4", 4.0 + 8 / 32, "experts", 16.0,
                    note="checkpoint: experts e2m1 + e8m0 scale per 32, attention bf16 (gpt-oss)"),
        QuantScheme("AWQ", _group_bits(4, 128, 16, 4), "linear", 16.0, note="int4, g128, f16 scale + 4-bit zero"),
        QuantScheme("GPTQ", _group_bits(4, 128, 16, 4), "linear", 16.0, note="int4, g128, f16 scale + zero"),
        QuantScheme("INT8", _group_bits(8, 128, 16, 0), "linear", 16.0, note="int8 weight-only"),
    ]
}
_ALIASES = {
    "FP16": "F16", "HALF": "F16", "BFLOAT16": "BF16", "FLOAT16": "F16", "NONE": "BF16", "FP32": "F32",
    "Q4": "Q4_K_M", "Q5": "Q5_K_M", "Q6": "Q6_K", "Q8": "Q8_0", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M",
    "MOSTLY_MXFP4_MOE": "MXFP4_MOE", "FP4": "NVFP4", "NVFP4A16": "NVFP4", "W4A16": "GPTQ",
    "COMPRESSED-TENSORS-NVFP4": "NVFP4", "MODELOPT-NVFP4": "NVFP4", "W8A8-FP8": "FP8",
}
_GROUPED = re.compile(r"^(AWQ|GPTQ|INT4)[-_]?(?:W4)?[-_]?G?(\d+)$")

#: ggml types a GGUF file type stores its weights in, as shares of the bytes, from llama-quantize's
#: rules (`synth.quant_rules`, checked against its plans of Qwen3 / Llama 3 shapes in the tests):
#: "ffn" = dense FFN models and routed experts (ffn_down gets Q6_K in the _M mixes), "attn" = the
#: attention-only dense part of a MoE, "output" = lm_head's type. Missing file types store
#: everything at their own base type with a Q6_K lm_head.
GGUF_TYPE_MIX: dict[str, dict[str, Any]] = {
    "Q4_K_M": {"ffn": {"Q4_K": 0.80, "Q6_K": 0.20}, "attn": {"Q4_K": 0.96, "Q6_K": 0.04}},
    "Q5_K_M": {"ffn": {"Q5_K": 0.835, "Q6_K": 0.165}, "attn": {"Q5_K": 0.97, "Q6_K": 0.03}},
    "Q4_K_S": {"ffn": {"Q4_K": 0.95, "Q5_K": 0.05}, "attn": {"Q4_K": 1.0}},
    "Q5_K_S": {"ffn": {"Q5_K": 1.0}, "attn": {"Q5_K": 1.0}},
    "Q8_0": {"output": "Q8_0"},
    "F16": {"output": "F16"}, "BF16": {"output": "BF16"}, "F32": {"output": "F32"},
    "MXFP4_MOE": {"ffn": {"MXFP4": 1.0}, "attn": {"Q8_0": 1.0}, "output": "Q8_0"},
}
#: What llama-quantize stores a K-quant tensor as when its rows are not whole 256-weight
#: super-blocks (gpt-oss's 2880): `tensor_type_fallback` in llama.cpp.
K_QUANT_FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0", "Q3_K": "IQ4_NL", "Q2_K": "Q4_0"}
_BASE_TYPE = {"Q4_K_M": "Q4_K", "Q4_K_S": "Q4_K", "Q5_K_M": "Q5_K", "Q5_K_S": "Q5_K", "Q3_K_M": "Q3_K",
              "MXFP4_MOE": "Q8_0"}


def gguf_types(file_type: str, part: str, row_len: int | None = None) -> dict[str, float]:
    """Byte shares per ggml type of one part ("ffn", "attn", "output") of a GGUF `file_type` file.

    `row_len` (the hidden size) applies llama-quantize's fallback for rows that are not whole
    K-quant super-blocks.
    """
    name = get_scheme(file_type).name
    mix = GGUF_TYPE_MIX.get(name, {})
    shares = {mix.get("output", "Q6_K"): 1.0} if part == "output" else dict(
        mix.get(part) or {_BASE_TYPE.get(name, name): 1.0})
    if row_len and row_len % 256:
        out: dict[str, float] = {}
        for t, share in shares.items():
            t = K_QUANT_FALLBACK.get(t, t)
            out[t] = out.get(t, 0.0) + share
        return out
    return shares


#: Quants the `fit --catalog` table shows by default, per engine family.
COMMON_GGUF = ("Q4_K_M", "Q8_0")
COMMON_CHECKPOINT = ("FP8", "NVFP4")

#: KV-cache element sizes in bytes (llama.cpp `-ctk/-ctv`, vLLM `--kv-cache-dtype`).
KV_BYTES_PER_ELEMENT: dict[str, float] = {
    "f32": 4.0, "f16": 2.0, "bf16": 2.0, "auto": 2.0,
    "q8_0": 34 / 32, "q5_1": 24 / 32, "q5_0": 22 / 32, "q4_1": 20 / 32, "q4_0": 18 / 32, "iq4_nl": 18 / 32,
    "fp8": 1.0, "fp8_e4m3": 1.0, "fp8_e5m2": 1.0,
}


def kv_bytes_per_element(kv_dtype: str) -> float:
    """Bytes one cached K or V element takes, block scales included (q8_0 = 34/32)."""
    key = kv_dtype.lower()
    if key not in KV_BYTES_PER_ELEMENT:
        raise ConfigError(f"unknown KV-cache dtype {kv_dtype!r}",
                          fix=f"use one of {', '.join(sorted(KV_BYTES_PER_ELEMENT))}")
    return KV_BYTES_PER_ELEMENT[key]


def get_scheme(name: str) -> QuantScheme:
    """Look a quant up by name (`Q4_K_M`, `fp8`, `awq-g64`, `gptq_g32`); ConfigError if unknown."""
    raw = name.strip().upper()
    for key in (raw, raw.replace("-", "_")):
        key = _ALIASES.get(key, key)
        if key in _SCHEMES:
            return _SCHEMES[key]
    grouped = _GROUPED.match(name.strip().upper())
    if grouped:
        family, group = grouped[1], int(grouped[2])
        family = "GPTQ" if family == "INT4" else family
        zero = 4
        return QuantScheme(f"{family}-g{group}", _group_bits(4, group, 16, zero), "linear", 16.0,
                           note=f"int4, group {group}, f16 scale + 4-bit zero")
    raise ConfigError(f"unknown quant {name!r}", fix=f"use one of {', '.join(known_quants())}")


def known_quants() -> list[str]:
    """Names `get_scheme` accepts directly (group-size variants like `awq-g64` also work)."""
    return list(_SCHEMES)


def weights_bytes_for(
    scheme: QuantScheme, *, total_params: int, embedding_params: int, expert_params: int
) -> int:
    """Bytes of all weights stored with `scheme`.

    `embedding_params` = input embedding + untied lm_head (kept at `kept_bits` by checkpoint
    schemes); `expert_params` = routed-expert weights (the only ones an "experts" scheme touches).
    """
    if scheme.scope == "all":
        return int(total_params * scheme.bits_per_weight / 8)
    if scheme.scope == "experts":
        quantized = expert_params if expert_params else total_params - embedding_params
    else:
        quantized = total_params - embedding_params
    kept = total_params - quantized
    return int(quantized * scheme.bits_per_weight / 8 + kept * scheme.kept_bits / 8)
