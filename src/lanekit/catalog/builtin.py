"""The built-in catalog: models the field runs on a DGX Spark, as their published config values.

Each entry is the text-model part of the model's `config.json` (only the keys sizing reads),
parsed by the same code as a user's config file, plus the parameter counts from the model
card. `estimated=True` marks entries where a value could not be confirmed from a published
config; `notes` says which.
"""

from __future__ import annotations

from typing import Any

from lanekit.catalog.hf_config import shape_from_hf_config
from lanekit.catalog.shapes import ModelShape

B = 1_000_000_000


def _entry(hf_id: str, aliases: list[str], cfg: dict[str, Any], *, total: float, active: float,
           quant: str = "BF16", estimated: bool = False, notes: str = "") -> ModelShape:
    """Parse `cfg` like a user's config.json; pin the model card's total parameter count.

    Active parameters stay computed from the shapes (what a decode step reads, without the
    input embedding table), since model cards count them differently; the card's figure goes
    into `notes`.
    """
    shape = shape_from_hf_config(cfg, name=hf_id.split("/")[-1])
    card = f"model card: {total:g}B total, {active:g}B active"
    return shape.model_copy(update={
        "hf_id": hf_id, "aliases": aliases, "total_params": int(total * B), "quant": quant,
        "estimated": estimated, "source": "catalog", "notes": f"{card}. {notes}".strip(),
    })


_QWEN3_30B_A3B = {
    "model_type": "qwen3_moe", "num_hidden_layers": 48, "num_attention_heads": 32, "num_key_value_heads": 4,
    "head_dim": 128, "hidden_size": 2048, "vocab_size": 151936, "max_position_embeddings": 40960,
    "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768, "intermediate_size": 6144,
    "tie_word_embeddings": False,
}
_QWEN3_32B = {
    "model_type": "qwen3", "num_hidden_layers": 64, "num_attention_heads": 64, "num_key_value_heads": 8,
    "head_dim": 128, "hidden_size": 5120, "vocab_size": 151936, "max_position_embeddings": 40960,
    "intermediate_size": 25600, "tie_word_embeddings": False,
}
_QWEN3_235B = {
    "model_type": "qwen3_moe", "num_hidden_layers": 94, "num_attention_heads": 64, "num_key_value_heads": 4,
    "head_dim": 128, "hidden_size": 4096, "vocab_size": 151936, "max_position_embeddings": 40960,
    "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 1536, "intermediate_size": 12288,
    "tie_word_embeddings": False,
}
_QWEN3_CODER_NEXT = {
    "model_type": "qwen3_next", "num_hidden_layers": 48, "num_attention_heads": 16, "num_key_value_heads": 2,
    "head_dim": 256, "hidden_size": 2048, "vocab_size": 151936, "max_position_embeddings": 262144,
    "full_attention_interval": 4, "num_experts": 512, "num_experts_per_tok": 10, "moe_intermediate_size": 512,
    "shared_expert_intermediate_size": 512, "intermediate_size": 5120, "linear_conv_kernel_dim": 4,
    "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_num_key_heads": 16,
    "linear_num_value_heads": 32, "attn_output_gate": True, "tie_word_embeddings": False,
}
_LLAMA33_70B = {
    "model_type": "llama", "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8,
    "hidden_size": 8192, "intermediate_size": 28672, "vocab_size": 128256, "max_position_embeddings": 131072,
    "tie_word_embeddings": False,
}


def _qwen35(layers: int, hidden: int, heads: int, kv: int, *, experts: int = 0, moe_ffn: int = 0,
            ffn: int = 0, lin_k: int = 16, lin_v: int = 32) -> dict[str, Any]:
    """Qwen3.5 / 3.6 text tower: Gated DeltaNet with full attention every 4th layer."""
    cfg: dict[str, Any] = {
        "model_type": "qwen3_5_moe_text" if experts else "qwen3_5_text", "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": 256, "hidden_size": hidden,
        "vocab_size": 248320, "max_position_embeddings": 262144,
        "layer_types": (["linear_attention"] * 3 + ["full_attention"]) * (layers // 4),
        "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
        "linear_num_key_heads": lin_k, "linear_num_value_heads": lin_v, "attn_output_gate": True,
        "tie_word_embeddings": False,
    }
    if experts:
        cfg.update(num_experts=experts, num_experts_per_tok=8, moe_intermediate_size=moe_ffn,
                   shared_expert_intermediate_size=moe_ffn)
    else:
        cfg["intermediate_size"] = ffn
    return cfg


def _gpt_oss(layers: int, experts: int) -> dict[str, Any]:
    return {
        "model_type": "gpt_oss", "num_hidden_layers": layers, "num_attention_heads": 64,
        "num_key_value_heads": 8, "head_dim": 64, "hidden_size": 2880, "vocab_size": 201088,
        "max_position_embeddings": 131072, "num_local_experts": experts, "num_experts_per_tok": 4,
        "intermediate_size": 2880, "sliding_window": 128, "tie_word_embeddings": False,
        "layer_types": ["sliding_attention", "full_attention"] * (layers // 2),
    }


def _gemma4(layers: int, hidden: int, heads: int, kv: int, global_kv: int, ffn: int,
            experts: int = 0, moe_ffn: int = 0) -> dict[str, Any]:
    """Gemma 4 text tower: 5 sliding (W=1024) to 1 global layer, wider global heads (K=V)."""
    cfg: dict[str, Any] = {
        "model_type": "gemma4_text", "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv, "num_global_key_value_heads": global_kv, "head_dim": 256,
        "global_head_dim": 512, "hidden_size": hidden, "intermediate_size": ffn, "vocab_size": 262144,
        "max_position_embeddings": 262144, "sliding_window": 1024, "tie_word_embeddings": True,
        "layer_types": ["sliding_attention" if (i + 1) % 6 else "full_attention" for i in range(layers)],
    }
    if experts:
        cfg.update(enable_moe_block=True, num_experts=experts, top_k_experts=8, moe_intermediate_size=moe_ffn)
    return cfg


_NEMOTRON_NANO_9B_V2 = {
    "model_type": "nemotron_h", "num_hidden_layers": 56, "num_attention_heads": 40, "num_key_value_heads": 8,
    "head_dim": 128, "hidden_size": 4480, "intermediate_size": 15680, "vocab_size": 131072,
    "max_position_embeddings": 131072, "tie_word_embeddings": False,
    "hybrid_override_pattern": "M-M-M-MM-M-M-M*-M-M-M*-M-M-M-M*-M-M-M-M*-M-MM-M-M-M-M-M-",
    "mamba_num_heads": 128, "mamba_head_dim": 80, "ssm_state_size": 128, "n_groups": 8, "conv_kernel": 4,
}
_MINISTRAL3_24B = {
    "model_type": "ministral3", "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 8,
    "head_dim": 128, "hidden_size": 5120, "intermediate_size": 32768, "vocab_size": 131072,
    "max_position_embeddings": 262144, "tie_word_embeddings": False,
}
_MINISTRAL3_128B = {
    "model_type": "ministral3", "num_hidden_layers": 88, "num_attention_heads": 96, "num_key_value_heads": 8,
    "head_dim": 128, "hidden_size": 12288, "intermediate_size": 28672, "vocab_size": 131072,
    "max_position_embeddings": 262144, "tie_word_embeddings": False,
}

CATALOG: list[ModelShape] = [
    _entry("Qwen/Qwen3-30B-A3B", ["qwen3-30b-a3b", "qwen3-30b"], _QWEN3_30B_A3B, total=30.5, active=3.3),
    _entry("Qwen/Qwen3-32B", ["qwen3-32b"], _QWEN3_32B, total=32.8, active=32.8),
    _entry("Qwen/Qwen3.6-27B", ["qwen3.6-27b", "qwen3.6-27"],
           _qwen35(64, 5120, 24, 4, ffn=17408, lin_v=48), total=27.0, active=27.0, estimated=True,
           notes="Qwen3.5-27B text tower (64 layers, 24 heads, 4 KV x 256, 16 of 64 full attention); "
                 "linear_num_value_heads=48 not confirmed"),
    _entry("Qwen/Qwen3.6-35B-A3B", ["qwen3.6-35b-a3b", "qwen3.6-35b"],
           _qwen35(40, 2048, 16, 2, experts=256, moe_ffn=512), total=35.0, active=3.0,
           notes="same text config as Qwen3.5-35B-A3B; includes a vision tower"),
    _entry("Qwen/Qwen3.5-122B-A10B", ["qwen3.5-122b-a10b", "qwen3.5-122b"],
           _qwen35(48, 3072, 32, 2, experts=256, moe_ffn=1024, lin_v=64), total=122.0, active=10.0,
           estimated=True, notes="48 layers, 3072 hidden, 32 heads, 256 experts top-8 + shared confirmed; "
                                 "KV heads, moe_intermediate_size, linear value heads estimated"),
    _entry("Qwen/Qwen3-235B-A22B", ["qwen3-235b-a22b", "qwen3-235b"], _QWEN3_235B, total=235.1, active=22.2),
    _entry("Qwen/Qwen3-Coder-Next", ["qwen3-coder-next", "qwen3-next-coder"], _QWEN3_CODER_NEXT,
           total=80.0, active=3.0, notes="Qwen3-Next architecture (Gated DeltaNet, full attention 1 in 4)"),
    _entry("openai/gpt-oss-20b", ["gpt-oss-20b"], _gpt_oss(24, 32), total=20.9, active=3.6, quant="MXFP4"),
    _entry("openai/gpt-oss-120b", ["gpt-oss-120b"], _gpt_oss(36, 128), total=116.8, active=5.1, quant="MXFP4"),
    _entry("google/gemma-4-31B-it", ["gemma-4-31b", "gemma4-31b"],
           _gemma4(60, 5376, 32, 16, 4, 21504), total=30.7, active=30.7, estimated=True,
           notes="60 layers, 5376 hidden, 32 heads, 16 KV x 256 on windowed layers confirmed; "
                 "global layers' KV heads (4 x 512) estimated"),
    _entry("google/gemma-4-26B-A4B-it", ["gemma-4-26b-a4b", "gemma4-26b"],
           _gemma4(30, 2816, 16, 8, 2, 2112, experts=128, moe_ffn=704), total=25.2, active=3.8),
    _entry("meta-llama/Llama-3.3-70B-Instruct", ["llama-3.3-70b", "llama3.3-70b"], _LLAMA33_70B,
           total=70.6, active=70.6),
    _entry("mistralai/Mistral-Medium-3.5-128B", ["mistral-medium-3.5", "mistral-medium-3.5-128b"],
           _MINISTRAL3_128B, total=128.0, active=128.0, quant="FP8", estimated=True,
           notes="88 layers, 12288 hidden, 96 heads, 8 KV confirmed; intermediate_size estimated; "
                 "native FP8 (lm_head, vision tower bf16)"),
    _entry("nvidia/NVIDIA-Nemotron-Nano-9B-v2", ["nemotron-nano-9b-v2", "nemotron-nano-9b"],
           _NEMOTRON_NANO_9B_V2, total=8.89, active=8.89,
           notes="Nemotron-H hybrid: 4 attention, 27 Mamba-2, 25 MLP layers"),
    _entry("mistralai/Devstral-Small-2-24B-Instruct-2512", ["devstral-small-2", "devstral-small-2-24b"],
           _MINISTRAL3_24B, total=24.0, active=24.0, estimated=True,
           notes="40 layers and 131072 vocab confirmed; heads/FFN from the Mistral Small 3 text tower"),
]
