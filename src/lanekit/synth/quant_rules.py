"""Which ggml type each tensor gets for a file type, the way `llama-quantize` decides it.

A synthetic file must read the bytes a downloaded one reads, so the mixes follow
llama.cpp's `llama_tensor_get_type` (src/llama-quant.cpp) for the file types offered here:
output → Q6_K unless the base is Q8_0; Q4_K_M / Q5_K_M give attn_v and ffn_down Q6_K in the
`use_more_bits` layers; 8-expert models keep attn_k/attn_v at Q8_0; rows that are not whole
blocks fall back (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, then F16); gpt-oss keeps its
experts MXFP4 in every file type. `pure=True` is `llama-quantize --pure`: every quantizable
tensor at the base type.
"""

from __future__ import annotations

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

from lanekit.catalog.quants import K_QUANT_FALLBACK
from lanekit.errors import ConfigError

T = GGMLQuantizationType

#: file type name → (base ggml type, llama.cpp file type id)
FILE_TYPES: dict[str, tuple[GGMLQuantizationType, LlamaFileType]] = {
    "F16": (T.F16, LlamaFileType.MOSTLY_F16),
    "BF16": (T.BF16, LlamaFileType.MOSTLY_BF16),
    "Q8_0": (T.Q8_0, LlamaFileType.MOSTLY_Q8_0),
    "Q6_K": (T.Q6_K, LlamaFileType.MOSTLY_Q6_K),
    "Q5_K_M": (T.Q5_K, LlamaFileType.MOSTLY_Q5_K_M),
    "Q5_K_S": (T.Q5_K, LlamaFileType.MOSTLY_Q5_K_S),
    "Q5_1": (T.Q5_1, LlamaFileType.MOSTLY_Q5_1),
    "Q5_0": (T.Q5_0, LlamaFileType.MOSTLY_Q5_0),
    "Q4_K_M": (T.Q4_K, LlamaFileType.MOSTLY_Q4_K_M),
    "Q4_K_S": (T.Q4_K, LlamaFileType.MOSTLY_Q4_K_S),
    "Q4_1": (T.Q4_1, LlamaFileType.MOSTLY_Q4_1),
    "Q4_0": (T.Q4_0, LlamaFileType.MOSTLY_Q4_0),
    "IQ4_NL": (T.IQ4_NL, LlamaFileType.MOSTLY_IQ4_NL),
    "MXFP4_MOE": (T.Q8_0, LlamaFileType.MOSTLY_MXFP4_MOE),
}
_ALIASES = {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q4": "Q4_0", "Q8": "Q8_0", "MXFP4": "MXFP4_MOE", "FP16": "F16"}
_FALLBACK = {T[k]: T[v] for k, v in K_QUANT_FALLBACK.items()}
_NOT_QUANTIZED = ("_norm.weight", "ffn_gate_inp.weight", "attn_sinks")


def file_type(name: str) -> tuple[str, GGMLQuantizationType, LlamaFileType]:
    """Normalise a `--quant` value to (canonical name, base type, llama.cpp file type)."""
    key = name.strip().upper().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in FILE_TYPES:
        raise ConfigError(f"--quant {name!r} is not a file type synth writes",
                          fix=f"use one of {', '.join(FILE_TYPES)}")
    base, ftype = FILE_TYPES[key]
    return key, base, ftype


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama.cpp's choice of layers that get more bits in the _M mixes (first/last eighth, every third)."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def quantizable(name: str, dims: tuple[int, ...]) -> bool:
    """2-D/3-D `.weight` tensors except norms, routers and sinks (llama-quantize's rule)."""
    return len(dims) >= 2 and name.endswith("weight") and not any(s in name for s in _NOT_QUANTIZED)


def _layer_of(name: str) -> int:
    return int(name.split(".")[1]) if name.startswith("blk.") else -1


def pick_type(ftype_name: str, name: str, dims: tuple[int, ...], *, n_layers: int, n_experts: int,
              arch: str, tied: bool = False, pure: bool = False) -> GGMLQuantizationType:
    """The ggml type `llama-quantize <ftype>` would store tensor `name` (ggml `dims`) in."""
    key, base, _ = file_type(ftype_name)
    if not quantizable(name, dims):
        return T.F32
    if arch == "gpt-oss" and not pure and len(dims) == 3 and dims[2] > 1:
        # gpt-oss ships its experts in MXFP4; convert_hf_to_gguf writes them through and
        # llama-quantize will not requantize them, so every published GGUF keeps them
        return T.MXFP4
    if base in (T.F16, T.BF16):
        return base
    il = _layer_of(name)
    is_output = name == "output.weight" or (tied and name == "token_embd.weight")
    new = base
    if key == "MXFP4_MOE":
        new = T.MXFP4 if len(dims) == 3 and dims[2] > 1 and not is_output else T.Q8_0
    elif pure:
        new = base
    elif is_output:
        new = T.Q8_0 if dims[0] % GGML_QUANT_SIZES[base][0] else (base if base == T.Q8_0 else T.Q6_K)
    elif ".attn_v." in name:
        if key in ("Q4_K_M", "Q5_K_M") and use_more_bits(il, n_layers):
            new = T.Q6_K
        elif key == "Q4_K_S" and il < 4:
            new = T.Q5_K
        if arch == "llama" and n_layers == 80 and new == T.Q4_K:  # llama.cpp's LLM_TYPE_70B rule
            new = T.Q5_K
        if n_experts == 8:
            new = T.Q8_0
    elif ".attn_k." in name and n_experts == 8:
        new = T.Q8_0
    elif ".ffn_down" in name:
        if key in ("Q4_K_M", "Q5_K_M") and use_more_bits(il, n_layers):
            new = T.Q6_K
        elif key == "Q4_K_S" and il < n_layers // 8:
            new = T.Q5_K
    elif ".attn_output." in name and n_experts == 8 and key in ("Q4_K_M", "Q4_K_S"):
        new = T.Q5_K
    return fallback(new, dims[0])


def fallback(qtype: GGMLQuantizationType, row_len: int) -> GGMLQuantizationType:
    """A type whose blocks divide `row_len` (llama.cpp's `tensor_type_fallback`)."""
    if row_len % GGML_QUANT_SIZES[qtype][0] == 0:
        return qtype
    alt = _FALLBACK.get(qtype, qtype)
    return alt if row_len % GGML_QUANT_SIZES[alt][0] == 0 else T.F16
