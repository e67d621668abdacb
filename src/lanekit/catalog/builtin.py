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
    shape = shape_from_hf_config(cfg, name=hf_id.split("/")[-1])
    return shape.model_copy(update={
        "hf_id": hf_id, "aliases": aliases, "total_params": int(total * B), "active_params": int(active * B),
        "quant": quant, "estimated": estimated, "source": "catalog", "notes": notes,
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


def _gpt_oss(layers: int, experts: int) -> dict[str, Any]:
    return {
        "model_type": "gpt_oss", "num_hidden_layers": layers, "num_attention_heads": 64,
        "num_key_value_heads": 8, "head_dim": 64, "hidden_size": 2880, "vocab_size": 201088,
        "max_position_embeddings": 131072, "num_local_experts": experts, "num_experts_per_tok": 4,
        "intermediate_size": 2880, "sliding_window": 128, "tie_word_embeddings": False,
        "layer_types": ["sliding_attention", "full_attention"] * (layers // 2),
    }


CATALOG: list[ModelShape] = [
    _entry("Qwen/Qwen3-30B-A3B", ["qwen3-30b-a3b", "qwen3-30b"], _QWEN3_30B_A3B, total=30.5, active=3.3),
    _entry("Qwen/Qwen3-32B", ["qwen3-32b"], _QWEN3_32B, total=32.8, active=32.8),
    _entry("Qwen/Qwen3-235B-A22B", ["qwen3-235b-a22b", "qwen3-235b"], _QWEN3_235B, total=235.1, active=22.2),
    _entry("Qwen/Qwen3-Coder-Next", ["qwen3-coder-next"], _QWEN3_CODER_NEXT, total=79.7, active=3.0,
           notes="Qwen3-Next architecture (Gated DeltaNet 3:1 full attention)"),
    _entry("openai/gpt-oss-20b", ["gpt-oss-20b"], _gpt_oss(24, 32), total=20.9, active=3.6, quant="MXFP4"),
    _entry("openai/gpt-oss-120b", ["gpt-oss-120b"], _gpt_oss(36, 128), total=116.8, active=5.1, quant="MXFP4"),
    _entry("meta-llama/Llama-3.3-70B-Instruct", ["llama-3.3-70b", "llama3.3-70b"], _LLAMA33_70B,
           total=70.6, active=70.6),
]
