"""The built-in catalog pinned against published figures: config values, sizes, Spark speeds."""

from __future__ import annotations

import pytest

from lanekit.catalog import catalog_models, estimate_memory, resolve_model
from lanekit.catalog.hardware import get_profile
from lanekit.catalog.memory import GIB, weights_bytes
from lanekit.catalog.roofline import active_bytes, decode_ceiling_tok_s
from lanekit.errors import ModelError

GB = 1e9

# Published config.json values: (layers that grow KV, KV heads, head_dim) -> f16 bytes per token
# = 2 x layers x kv_heads x head_dim x 2. Windowed layers are listed separately.
PUBLISHED_KV = {
    "Qwen/Qwen3-30B-A3B": (48, 4, 128),
    "Qwen/Qwen3-32B": (64, 8, 128),
    "Qwen/Qwen3.6-27B": (16, 4, 256),  # 64 layers, full attention every 4th
    "Qwen/Qwen3.6-35B-A3B": (10, 2, 256),  # 40 layers, full attention every 4th
    "Qwen/Qwen3.5-122B-A10B": (12, 2, 256),  # 48 layers, full attention every 4th
    "Qwen/Qwen3-235B-A22B": (94, 4, 128),
    "Qwen/Qwen3-Coder-Next": (12, 2, 256),  # Qwen3-Next: 48 layers, interval 4
    "openai/gpt-oss-20b": (12, 8, 64),  # 24 layers, alternate layers windowed (128)
    "openai/gpt-oss-120b": (18, 8, 64),  # 36 layers, alternate layers windowed (128)
    "google/gemma-4-31B-it": (10, 4, 512),  # 60 layers, 1 global in 6; global heads 512 wide
    "google/gemma-4-26B-A4B-it": (5, 2, 512),  # 30 layers, global at 5, 11, 17, 23, 29
    "meta-llama/Llama-3.3-70B-Instruct": (80, 8, 128),
    "mistralai/Mistral-Medium-3.5-128B": (88, 8, 128),
    "nvidia/NVIDIA-Nemotron-Nano-9B-v2": (4, 8, 128),  # 4 '*' in hybrid_override_pattern
    "mistralai/Devstral-Small-2-24B-Instruct-2512": (40, 8, 128),
}
PUBLISHED_SWA = {  # (windowed layers, KV heads, head_dim, window)
    "openai/gpt-oss-20b": (12, 8, 64, 128),
    "openai/gpt-oss-120b": (18, 8, 64, 128),
    "google/gemma-4-31B-it": (50, 16, 256, 1024),
    "google/gemma-4-26B-A4B-it": (25, 8, 256, 1024),
}


def test_every_issue_model_is_in_the_catalog() -> None:
    ids = {m.hf_id for m in catalog_models()}
    assert ids == set(PUBLISHED_KV)


@pytest.mark.parametrize("hf_id", sorted(PUBLISHED_KV))
def test_kv_per_token_matches_published_config(hf_id: str) -> None:
    layers, kv_heads, head_dim = PUBLISHED_KV[hf_id]
    est = estimate_memory(resolve_model(hf_id), ctx=8192)
    assert est.kv_bytes_per_token == 2 * layers * kv_heads * head_dim * 2


@pytest.mark.parametrize("hf_id", sorted(PUBLISHED_SWA))
def test_windowed_layers_hold_only_the_window(hf_id: str) -> None:
    layers, kv_heads, head_dim, window = PUBLISHED_SWA[hf_id]
    shape = resolve_model(hf_id)
    assert (shape.n_swa_layers, shape.sliding_window) == (layers, window)
    big = estimate_memory(shape, ctx=131072)
    assert big.swa_kv_bytes == 2 * layers * kv_heads * head_dim * 2 * (window + 512)


@pytest.mark.parametrize("shape", catalog_models(), ids=lambda s: s.hf_id)
def test_every_entry_is_addressable_by_hf_id_and_alias(shape) -> None:
    assert resolve_model(shape.hf_id) is shape or resolve_model(shape.hf_id).hf_id == shape.hf_id
    assert shape.aliases, "every entry needs a short alias"
    assert resolve_model(shape.aliases[0]).hf_id == shape.hf_id
    assert resolve_model(shape.hf_id.upper()).hf_id == shape.hf_id  # case-insensitive


def test_unknown_model_raises_with_suggestions() -> None:
    with pytest.raises(ModelError) as exc:
        resolve_model("qwen3-31b-a3b")
    assert "qwen3-30b-a3b" in (exc.value.fix or "")


def test_hybrid_entries_keep_fixed_recurrent_state() -> None:
    # Qwen3.6-35B-A3B: 30 Gated DeltaNet layers x (conv 3 x 8192 + 32 heads x 128 x 128) x f32.
    assert resolve_model("qwen3.6-35b-a3b").linear_state_bytes == 30 * (3 * 8192 + 32 * 128 * 128) * 4
    nemotron = resolve_model("nemotron-nano-9b-v2")
    assert nemotron.n_full_attn_layers == 4
    assert nemotron.linear_state_bytes == 27 * (128 * 80 * 128 + 3 * (128 * 80 + 2 * 8 * 128)) * 4


# --- weights against published checkpoint / file sizes -------------------------------------

def test_qwen3_30b_a3b_fp8_weights_30_to_32_gb() -> None:
    assert 30 * GB <= weights_bytes(resolve_model("Qwen/Qwen3-30B-A3B"), "FP8")[0] <= 32 * GB


def test_qwen3_30b_a3b_q4_k_m_gguf_about_18_6_gb() -> None:
    assert weights_bytes(resolve_model("Qwen/Qwen3-30B-A3B"), "Q4_K_M")[0] == pytest.approx(18.6 * GB, rel=0.02)


def test_gpt_oss_120b_mxfp4_gguf_61_to_65_gb() -> None:
    assert 61 * GB <= weights_bytes(resolve_model("gpt-oss-120b"), "MXFP4_MOE")[0] <= 65 * GB


def test_gpt_oss_120b_mxfp4_checkpoint_matches_published_60_8_gib() -> None:
    # OpenAI's checkpoint: experts MXFP4, attention / embeddings bf16, 60.8 GiB.
    assert weights_bytes(resolve_model("gpt-oss-120b"))[0] == pytest.approx(60.8 * GIB, rel=0.02)


def test_qwen3_5_122b_a10b_nvfp4_70_to_76_gb() -> None:
    assert 70 * GB <= weights_bytes(resolve_model("Qwen/Qwen3.5-122B-A10B"), "NVFP4")[0] <= 76 * GB


def test_mistral_medium_3_5_native_fp8_near_published_134_gb() -> None:
    assert weights_bytes(resolve_model("mistral-medium-3.5"))[0] == pytest.approx(134 * GB, rel=0.06)


# --- GB10 ceilings never below a speed measured on a Spark ----------------------------------

SPARK_MEASURED = [  # (model, quant, tok/s measured on a DGX Spark)
    ("Qwen/Qwen3-30B-A3B", "Q4_K_M", 88.0),
    ("Qwen/Qwen3-32B", "Q4_K_M", 10.2),
    ("openai/gpt-oss-120b", "MXFP4_MOE", 58.0),
]


@pytest.mark.parametrize(("hf_id", "quant", "measured"), SPARK_MEASURED)
def test_gb10_ceiling_is_not_below_a_measured_spark_speed(hf_id: str, quant: str, measured: float) -> None:
    gb10 = get_profile("gb10")
    per_token = active_bytes(resolve_model(hf_id), quant).per_token_bytes
    assert decode_ceiling_tok_s(per_token, gb10.bandwidth_gb_s) >= measured


@pytest.mark.parametrize(("hf_id", "quant", "measured"), SPARK_MEASURED)
def test_gb10_prediction_is_within_15_percent_of_spark_speeds(hf_id: str, quant: str, measured: float) -> None:
    from lanekit.catalog.predict import predict_shape
    from lanekit.catalog.terms import resolve_terms

    terms = resolve_terms(get_profile("gb10"), "llamacpp")
    assert terms.origin == "estimate"  # the Spark is not calibrated until someone runs it there
    predicted = predict_shape(resolve_model(hf_id), terms, quant=quant, depth=0, served=False).tok_s
    assert predicted == pytest.approx(measured, rel=0.15)


def test_computed_active_params_are_near_the_model_cards() -> None:
    # Cards count differently (with or without embeddings); the computed figure stays within 25%.
    for hf_id, card in [("Qwen/Qwen3-30B-A3B", 3.3), ("openai/gpt-oss-120b", 5.1), ("openai/gpt-oss-20b", 3.6),
                        ("Qwen/Qwen3-235B-A22B", 22.0), ("Qwen/Qwen3.6-35B-A3B", 3.0)]:
        assert resolve_model(hf_id).active_params / 1e9 == pytest.approx(card, rel=0.25), hf_id
