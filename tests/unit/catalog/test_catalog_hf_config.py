"""HF config.json parsing: nested text_config, layer types, quantization_config, exact index bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanekit.catalog import resolve_model
from lanekit.catalog.hf_config import quant_from_config, shape_from_config_path, shape_from_hf_config
from lanekit.errors import ModelError

QWEN3_30B = {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "num_hidden_layers": 48,
             "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "hidden_size": 2048,
             "vocab_size": 151936, "max_position_embeddings": 40960, "num_experts": 128,
             "num_experts_per_tok": 8, "moe_intermediate_size": 768, "intermediate_size": 6144,
             "tie_word_embeddings": False, "torch_dtype": "bfloat16"}


@pytest.mark.parametrize(("qc", "expected"), [
    ({"quant_method": "awq", "bits": 4, "group_size": 128}, "AWQ-g128"),
    ({"quant_method": "gptq", "bits": 4, "group_size": 32}, "GPTQ-g32"),
    ({"quant_method": "fp8", "weight_block_size": [128, 128]}, "FP8"),
    ({"quant_method": "mxfp4"}, "MXFP4"),
    ({"quant_method": "modelopt", "quant_algo": "NVFP4"}, "NVFP4"),
    ({"quant_method": "modelopt", "quant_algo": "FP8"}, "FP8"),
    ({"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized"}, "NVFP4"),
    ({"quant_method": "compressed-tensors", "format": "float-quantized",
      "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "float"}}}}, "FP8"),
    ({"quant_method": "compressed-tensors", "format": "pack-quantized",
      "config_groups": {"group_0": {"weights": {"num_bits": 4, "type": "int", "group_size": 64}}}}, "GPTQ-g64"),
])
def test_quantization_config_names_the_scheme(qc: dict, expected: str) -> None:
    assert quant_from_config({**QWEN3_30B, "quantization_config": qc}) == expected


def test_unquantized_config_is_bf16() -> None:
    assert quant_from_config(QWEN3_30B) == "BF16"


def test_moe_config_shape_and_params() -> None:
    shape = shape_from_hf_config(QWEN3_30B, name="q")
    assert (shape.n_experts, shape.n_experts_used, shape.expert_ffn) == (128, 8, 768)
    assert shape.total_params / 1e9 == pytest.approx(30.5, rel=0.02)
    assert shape.estimated and shape.source == "hf-config"


def test_nested_text_config_and_layer_types_are_read() -> None:
    wrapper = {"architectures": ["Qwen3_5MoeForConditionalGeneration"], "model_type": "qwen3_5_moe",
               "quantization_config": {"quant_method": "fp8"},
               "text_config": {"model_type": "qwen3_5_moe_text", "num_hidden_layers": 8, "hidden_size": 256,
                               "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
                               "vocab_size": 1000, "layer_types": ["linear_attention"] * 3 + ["full_attention"]
                               + ["linear_attention"] * 3 + ["full_attention"], "linear_num_key_heads": 2,
                               "linear_num_value_heads": 4, "linear_key_head_dim": 32, "linear_value_head_dim": 32,
                               "linear_conv_kernel_dim": 4, "num_experts": 8, "num_experts_per_tok": 2,
                               "moe_intermediate_size": 64, "shared_expert_intermediate_size": 64}}
    shape = shape_from_hf_config(wrapper)
    assert shape.n_full_attn_layers == 2 and shape.is_hybrid and shape.quant == "FP8"
    assert shape.linear_state_bytes == 6 * (4 * 32 * 32 + 3 * (2 * 2 * 32 + 4 * 32)) * 4


def test_gemma4_global_layers_use_their_own_kv_geometry() -> None:
    cfg = {"model_type": "gemma4_text", "num_hidden_layers": 6, "hidden_size": 256, "num_attention_heads": 4,
           "num_key_value_heads": 2, "num_global_key_value_heads": 1, "head_dim": 64, "global_head_dim": 128,
           "vocab_size": 1000, "sliding_window": 32,
           "layer_types": ["sliding_attention"] * 5 + ["full_attention"]}
    shape = shape_from_hf_config(cfg)
    assert (shape.n_kv_heads, shape.head_dim, shape.swa_n_kv_heads, shape.swa_head_dim) == (1, 128, 2, 64)
    assert shape.n_swa_layers == 5 and shape.n_global_layers == 1


def test_qwen2_max_window_layers_convention() -> None:
    cfg = {"model_type": "qwen2", "num_hidden_layers": 28, "hidden_size": 512, "num_attention_heads": 8,
           "vocab_size": 1000, "sliding_window": 4096, "use_sliding_window": True, "max_window_layers": 21}
    assert shape_from_hf_config(cfg).n_swa_layers == 7
    cfg["use_sliding_window"] = False
    assert shape_from_hf_config(cfg).n_swa_layers == 0


def test_missing_keys_raise_model_error() -> None:
    with pytest.raises(ModelError):
        shape_from_hf_config({"model_type": "llama"})


def test_config_folder_uses_safetensors_index_for_exact_bytes(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(QWEN3_30B))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 61_064_000_000}}))
    shape = resolve_model(str(tmp_path))
    assert shape.weights_bytes == 61_064_000_000 and shape.name == tmp_path.name
    assert shape_from_config_path(tmp_path / "config.json").weights_bytes == 61_064_000_000


def test_missing_config_json_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        shape_from_config_path(tmp_path / "config.json")
