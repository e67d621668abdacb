"""Read a ModelShape from a Hugging Face `config.json` (plus its `quantization_config`).

Handles nested `text_config` (multimodal wrappers), per-layer `layer_types`, Qwen3-Next /
Qwen3.5 Gated DeltaNet hybrids, Nemotron-H `hybrid_override_pattern`, MLA and MoE keys.
Parameter counts are computed from the shapes when no safetensors index gives exact bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lanekit.catalog.shapes import ModelShape
from lanekit.errors import ModelError


def _get(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if cfg.get(key) is not None:
            return cfg[key]
    return default


def quant_from_config(cfg: dict[str, Any]) -> str | None:
    """Name the checkpoint's quant scheme from `quantization_config` (None = unquantized).

    AWQ/GPTQ keep their group size (`AWQ-g128`); compressed-tensors is read from its config
    groups (`nvfp4-pack-quantized` / float 4-bit → NVFP4, float 8-bit → FP8); modelopt uses
    `quant_algo`; Mxfp4 (gpt-oss) → MXFP4.
    """
    qc = cfg.get("quantization_config") or (cfg.get("text_config") or {}).get("quantization_config")
    if not qc:
        dtype = str(_get(cfg, "torch_dtype", "dtype", default="bfloat16"))
        return "F16" if "float16" == dtype else "BF16" if "bfloat16" in dtype else None
    method = str(qc.get("quant_method", "")).lower()
    if method in ("awq", "gptq"):
        group = qc.get("group_size") or qc.get("q_group_size") or 128
        bits = qc.get("bits") or qc.get("w_bit") or 4
        return f"{method.upper()}-g{group}" if int(bits) == 4 else "INT8"
    if method == "fp8" or method == "fbgemm_fp8":
        return "FP8"
    if method == "mxfp4":
        return "MXFP4"
    if method == "modelopt":
        algo = str(qc.get("quant_algo", "")).upper()
        return "NVFP4" if "FP4" in algo else "FP8" if "FP8" in algo else algo or None
    if method == "compressed-tensors":
        fmt = str(qc.get("format", "")).lower()
        if "nvfp4" in fmt:
            return "NVFP4"
        for group in (qc.get("config_groups") or {}).values():
            weights = group.get("weights") or {}
            num_bits, kind = weights.get("num_bits"), weights.get("type")
            if num_bits == 4 and kind == "float":
                return "NVFP4"
            if num_bits == 8 and kind == "float":
                return "FP8"
            if num_bits == 4 and kind == "int":
                return f"GPTQ-g{weights.get('group_size') or 128}"
            if num_bits == 8 and kind == "int":
                return "INT8"
        return None
    if method == "bitsandbytes":
        return "NF4" if qc.get("load_in_4bit") else "INT8"
    return method.upper() or None


def _layer_kinds(cfg: dict[str, Any], n_layers: int) -> list[str]:
    """Per layer: "full", "swa", "linear" (GDN/Mamba state), or "none" (MLP-only)."""
    types = cfg.get("layer_types")
    if isinstance(types, list) and types:
        mapping = {"full_attention": "full", "sliding_attention": "swa", "linear_attention": "linear",
                   "mamba": "linear", "attention": "full", "chunked_attention": "swa"}
        return [mapping.get(str(t), "full") for t in types][:n_layers]
    pattern = cfg.get("hybrid_override_pattern")
    if isinstance(pattern, str) and pattern:  # Nemotron-H: M = Mamba-2, * = attention, - = MLP
        return [{"M": "linear", "*": "full"}.get(c, "none") for c in pattern][:n_layers]
    interval = cfg.get("full_attention_interval")
    if interval:
        return ["full" if (i + 1) % int(interval) == 0 else "linear" for i in range(n_layers)]
    window = cfg.get("sliding_window")
    if window and cfg.get("use_sliding_window", True) is not False:
        pattern_n = _get(cfg, "sliding_window_pattern", "sliding_window_period")
        if pattern_n:
            p = int(pattern_n)
            return ["swa" if (i + 1) % p else "full" for i in range(n_layers)]
        max_window = cfg.get("max_window_layers")
        if cfg.get("use_sliding_window") and max_window is not None:  # Qwen2 convention
            return ["swa" if i >= int(max_window) else "full" for i in range(n_layers)]
        if cfg.get("model_type") in ("mistral", "mixtral") or cfg.get("use_sliding_window"):
            return ["swa"] * n_layers
    return ["full"] * n_layers


def _linear_state_bytes(cfg: dict[str, Any], n_linear: int) -> int:
    """f32 state one sequence holds across the linear-attention / Mamba layers."""
    if not n_linear:
        return 0
    if cfg.get("linear_num_value_heads"):  # Gated DeltaNet (Qwen3-Next, Qwen3.5)
        nv, dk, dv = cfg["linear_num_value_heads"], cfg["linear_key_head_dim"], cfg["linear_value_head_dim"]
        nk = cfg.get("linear_num_key_heads", nv)
        conv = (int(cfg.get("linear_conv_kernel_dim", 4)) - 1) * (2 * nk * dk + nv * dv)
        return (nv * dk * dv + conv) * 4 * n_linear
    if cfg.get("mamba_num_heads") or cfg.get("ssm_state_size"):  # Mamba-2 (Nemotron-H)
        heads = int(cfg.get("mamba_num_heads", 0))
        head_dim = int(cfg.get("mamba_head_dim", 64))
        d_inner = heads * head_dim or 2 * int(cfg["hidden_size"])
        d_state, groups = int(cfg.get("ssm_state_size", 128)), int(cfg.get("n_groups", 1))
        conv = (int(cfg.get("conv_kernel", 4)) - 1) * (d_inner + 2 * groups * d_state)
        return (d_inner * d_state + conv) * 4 * n_linear
    return 0


def _count_params(cfg: dict[str, Any], kinds: list[str], hd: int, heads: int, kv: int) -> tuple[int, int]:
    """(total, read-per-token) parameters from the shapes; norms and biases are ignored (<0.1%)."""
    h, vocab = int(cfg["hidden_size"]), int(_get(cfg, "vocab_size", default=0))
    embed = vocab * h * (1 if cfg.get("tie_word_embeddings") else 2)
    attn = h * heads * hd * (2 if cfg.get("attn_output_gate") else 1) + 2 * h * kv * hd + heads * hd * h
    if cfg.get("kv_lora_rank"):
        rank, rope = int(cfg["kv_lora_rank"]), int(cfg.get("qk_rope_head_dim", 64))
        nope, v = int(cfg.get("qk_nope_head_dim", 128)), int(cfg.get("v_head_dim", 128))
        q_rank = cfg.get("q_lora_rank")
        q = h * int(q_rank) + int(q_rank) * heads * (nope + rope) if q_rank else h * heads * (nope + rope)
        attn = q + h * (rank + rope) + rank * heads * (nope + v) + heads * v * h
    linear = 0
    if cfg.get("linear_num_value_heads"):
        nv, dk, dv = cfg["linear_num_value_heads"], cfg["linear_key_head_dim"], cfg["linear_value_head_dim"]
        nk = cfg.get("linear_num_key_heads", nv)
        linear = h * (2 * nk * dk + 2 * nv * dv + 2 * nv) + nv * dv * h
    elif cfg.get("mamba_num_heads"):
        d_inner = int(cfg["mamba_num_heads"]) * int(cfg.get("mamba_head_dim", 64))
        groups, d_state = int(cfg.get("n_groups", 1)), int(cfg.get("ssm_state_size", 128))
        linear = h * (2 * d_inner + 2 * groups * d_state + int(cfg["mamba_num_heads"])) + d_inner * h
    n_experts = int(_get(cfg, "num_experts", "num_local_experts", "n_routed_experts", default=0) or 0)
    used = int(_get(cfg, "num_experts_per_tok", "top_k_experts", "moe_top_k", default=0) or 0)
    # Gated MLPs (SwiGLU/GeGLU) have 3 matrices; Nemotron-H's squared-ReLU MLP has 2.
    mats = 2 if str(cfg.get("model_type", "")).startswith("nemotron_h") else 3
    dense_ffn = mats * h * int(_get(cfg, "intermediate_size", default=0) or 0)
    moe_ffn = int(_get(cfg, "moe_intermediate_size", "expert_intermediate_size", default=0) or 0)
    if n_experts and not moe_ffn:
        moe_ffn = int(_get(cfg, "intermediate_size", default=0) or 0)
    shared_ffn = int(_get(cfg, "shared_expert_intermediate_size", default=0) or 0)
    shared_ffn += int(cfg.get("n_shared_experts") or 0) * moe_ffn
    if cfg.get("enable_moe_block"):  # Gemma 4 MoE layers keep a dense MLP beside the experts
        shared_ffn += int(_get(cfg, "intermediate_size", default=0) or 0)
    dense_first = int(cfg.get("first_k_dense_replace") or 0)
    # Active = what one decode step reads: the input embedding contributes one row, so only a
    # tied table (which doubles as lm_head) counts.
    total = embed
    active = vocab * h
    for i, kind in enumerate(kinds):
        mixer = attn if kind in ("full", "swa") else linear if kind == "linear" else 0
        if n_experts and i >= dense_first and (kind != "none" or cfg.get("hybrid_override_pattern") is None):
            experts = n_experts * 3 * h * moe_ffn
            shared = 3 * h * shared_ffn + h * n_experts
            total += mixer + experts + shared
            active += mixer + used * 3 * h * moe_ffn + shared
        else:
            ffn = dense_ffn if (kind == "none" or cfg.get("hybrid_override_pattern") is None) else 0
            total += mixer + ffn
            active += mixer + ffn
    return total, active


def shape_from_hf_config(cfg: dict[str, Any], *, name: str = "hf-model") -> ModelShape:
    """Build a ModelShape from a parsed config.json; raises ModelError when keys are missing."""
    top = cfg
    if "text_config" in cfg and isinstance(cfg["text_config"], dict):
        cfg = {**cfg["text_config"], "quantization_config": cfg.get("quantization_config"),
               "tie_word_embeddings": cfg["text_config"].get("tie_word_embeddings",
                                                             cfg.get("tie_word_embeddings"))}
    try:
        n_layers = int(cfg["num_hidden_layers"])
        hidden = int(cfg["hidden_size"])
        heads = int(cfg["num_attention_heads"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"config.json for {name} lacks {exc}",
                         fix="point at the model's own config.json (or its folder)") from exc
    kv = int(_get(cfg, "num_key_value_heads", default=heads) or heads)
    hd = int(_get(cfg, "head_dim", default=0) or hidden // heads)
    # Gemma 4: global layers have their own (wider, fewer) KV heads; windowed layers use the flat keys.
    global_hd = int(cfg.get("global_head_dim") or 0)
    global_kv = int(cfg.get("num_global_key_value_heads") or 0)
    kinds = _layer_kinds(cfg, n_layers)
    n_swa = kinds.count("swa")
    n_linear = kinds.count("linear")
    hybrid = n_linear or kinds.count("none")
    total, active = _count_params(cfg, kinds, hd, heads, kv)
    n_experts = int(_get(cfg, "num_experts", "num_local_experts", "n_routed_experts", default=0) or 0)
    if cfg.get("enable_moe_block") is False:
        n_experts = 0
    rank = cfg.get("kv_lora_rank")
    arch = (top.get("architectures") or [cfg.get("model_type", "unknown")])[0]
    return ModelShape(
        name=name, arch=str(cfg.get("model_type") or arch), n_layers=n_layers, n_heads=heads,
        n_kv_heads=global_kv or kv, head_dim=global_hd or hd, hidden_size=hidden, vocab_size=int(_get(cfg, "vocab_size", default=0)),
        context_length=int(_get(cfg, "max_position_embeddings", "max_sequence_length", default=0) or 0),
        sliding_window=int(cfg["sliding_window"]) if n_swa and cfg.get("sliding_window") else None,
        n_swa_layers=n_swa, n_full_attn_layers=kinds.count("full") if hybrid else None,
        n_experts=n_experts,
        n_experts_used=int(_get(cfg, "num_experts_per_tok", "top_k_experts", "moe_top_k", default=0) or 0)
        if n_experts else 0,
        expert_ffn=int(_get(cfg, "moe_intermediate_size", default=0) or 0) or (
            int(cfg.get("intermediate_size", 0)) if n_experts else None) or None,
        n_shared_experts=int(cfg.get("n_shared_experts") or (1 if cfg.get("shared_expert_intermediate_size")
                                                              else 0)),
        total_params=total, active_params=active, weights_bytes=None, quant=quant_from_config(top),
        estimated=True, tied_embeddings=bool(cfg.get("tie_word_embeddings")),
        kv_lora_rank=int(rank) if rank else None,
        qk_rope_head_dim=int(cfg.get("qk_rope_head_dim", 64)) if rank else None,
        head_dim_v=int(cfg["v_head_dim"]) if cfg.get("v_head_dim") and not rank else None,
        swa_n_kv_heads=kv if (global_kv and n_swa) else None,
        swa_head_dim=hd if (global_hd and n_swa) else None,
        linear_state_bytes=_linear_state_bytes(cfg, n_linear), source="hf-config",
    )


def shape_from_config_path(path: str | Path) -> ModelShape:
    """Read `config.json` (a file or the folder holding it); exact bytes from the safetensors index."""
    path = Path(path).expanduser()
    folder = path if path.is_dir() else path.parent
    file = path / "config.json" if path.is_dir() else path
    if not file.exists():
        raise ModelError(f"no config.json at {file}", fix="pass a model folder that holds config.json")
    try:
        cfg = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read {file}: {exc}", fix="check the file is the model's JSON config") from exc
    shape = shape_from_hf_config(cfg, name=folder.name)
    index = folder / "model.safetensors.index.json"
    if index.exists():
        try:
            size = int(json.loads(index.read_text())["metadata"]["total_size"])
            shape = shape.model_copy(update={"weights_bytes": size})
        except (OSError, KeyError, ValueError, json.JSONDecodeError):
            pass  # the estimate from the shapes stands
    return shape
