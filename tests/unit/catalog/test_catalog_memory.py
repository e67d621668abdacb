"""Memory envelope: KV formulas per attention type, engine ctx semantics, vLLM reservation, quants."""

from __future__ import annotations

import pytest

from lanekit.catalog import ModelShape, estimate_memory, resolve_model
from lanekit.catalog.hf_config import shape_from_hf_config
from lanekit.catalog.memory import GIB, kv_bytes_per_token, normalize_engine, weights_bytes
from lanekit.catalog.quants import get_scheme, known_quants, kv_bytes_per_element
from lanekit.errors import ConfigError


def _dense(**over) -> ModelShape:
    """A Llama-3-8B-like shape."""
    return ModelShape(**{
        "name": "t", "arch": "llama", "n_layers": 32, "n_heads": 32, "n_kv_heads": 8, "head_dim": 128,
        "hidden_size": 4096, "vocab_size": 128256, "context_length": 131072, "sliding_window": None,
        "n_swa_layers": 0, "n_full_attn_layers": None, "expert_ffn": None, "total_params": 8_030_000_000,
        "active_params": 7_500_000_000, "weights_bytes": None, "quant": "BF16", **over})


def test_gqa_kv_per_token_formula() -> None:
    assert kv_bytes_per_token(_dense()) == 2 * 32 * 8 * 128 * 2  # Llama-3-8B: 128 KiB/token


@pytest.mark.parametrize(("dtype", "factor"), [("f16", 1.0), ("q8_0", 34 / 64), ("q4_0", 18 / 64), ("fp8", 0.5)])
def test_kv_dtype_scales_bytes_with_block_scales(dtype: str, factor: float) -> None:
    assert kv_bytes_per_token(_dense(), dtype) == int(2 * 32 * 8 * 128 * 2 * factor)


def test_unknown_kv_dtype_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        kv_bytes_per_element("int3")


def test_mla_stores_one_latent_per_layer() -> None:
    # DeepSeek-V3: 61 x (512 + 64) x 2 B = 68.6 KiB per token in bf16.
    cfg = {"model_type": "deepseek_v3", "num_hidden_layers": 61, "hidden_size": 7168, "num_attention_heads": 128,
           "num_key_value_heads": 128, "vocab_size": 129280, "kv_lora_rank": 512, "qk_rope_head_dim": 64,
           "qk_nope_head_dim": 128, "v_head_dim": 128, "q_lora_rank": 1536, "n_routed_experts": 256,
           "num_experts_per_tok": 8, "moe_intermediate_size": 2048, "n_shared_experts": 1,
           "first_k_dense_replace": 3, "intermediate_size": 18432}
    shape = shape_from_hf_config(cfg)
    assert shape.is_mla
    assert kv_bytes_per_token(shape) == 61 * 576 * 2
    assert shape.total_params / 1e9 == pytest.approx(671, rel=0.03)


def test_ctx_is_per_request_and_every_slot_gets_it() -> None:
    # "do 4 Hermes slots of 64K fit?": llama-server gets -c 262144, so KV is 4x one slot's
    one = estimate_memory(_dense(), ctx=65536, parallel=1)
    four = estimate_memory(_dense(), ctx=65536, parallel=4)
    assert four.kv_bytes == 4 * one.kv_bytes == one.kv_bytes_per_token * 65536 * 4
    assert (four.ctx, four.total_ctx) == (65536, 262144)


def test_vllm_without_a_reservation_plans_every_sequence_at_full_length() -> None:
    est = estimate_memory(_dense(), ctx=32768, parallel=4, engine="vllm")
    assert est.kv_bytes == est.kv_bytes_per_token * 32768 * 4
    assert est.kv_one_sequence_bytes == est.kv_bytes_per_token * 32768


def test_ollama_allocates_ctx_per_parallel_request() -> None:
    est = estimate_memory(_dense(), ctx=8192, parallel=2, engine="ollama")
    assert est.kv_bytes == est.kv_bytes_per_token * 8192 * 2


def test_total_is_the_sum_of_its_terms() -> None:
    est = estimate_memory(resolve_model("qwen3.6-35b-a3b"), ctx=131072, parallel=2, quant="Q4_K_M")
    assert est.total_bytes == (est.weights_bytes + est.kv_bytes + est.state_bytes + est.overhead_bytes
                               + est.headroom_bytes)
    assert est.state_bytes > 0


def test_vllm_reservation_takes_utilization_of_the_pool() -> None:
    pool = 128 * 10**9
    est = estimate_memory(resolve_model("qwen3-30b-a3b"), ctx=32768, engine="vllm", quant="FP8",
                          pool_bytes=pool, gpu_memory_utilization=0.8)
    assert est.reserved_bytes == int(0.8 * pool)
    assert est.total_bytes == est.reserved_bytes + est.headroom_bytes
    assert est.kv_bytes > est.kv_needed_bytes  # the KV pool fills what the weights leave
    assert any("reserved" in line for line in est.explain())


def test_vllm_starts_when_one_full_length_request_fits_not_ctx_times_seqs() -> None:
    # Qwen3-30B-A3B FP8 on an 80 GiB GPU: 8 x 131072 tokens would need ~100 GiB of KV, but
    # vLLM only checks that one 131072-token request fits its pool; it then schedules fewer
    est = estimate_memory(resolve_model("qwen3-30b-a3b"), ctx=131072, parallel=8, engine="vllm", quant="FP8",
                          pool_bytes=80 * GIB, gpu_memory_utilization=0.9)
    assert est.kv_needed_bytes > est.kv_bytes >= est.kv_one_sequence_bytes
    assert not est.problems and est.full_length_sequences == est.kv_bytes // est.kv_one_sequence_bytes
    assert est.total_bytes == est.reserved_bytes + est.headroom_bytes


def test_vllm_reservation_too_small_for_one_request_is_a_problem() -> None:
    est = estimate_memory(resolve_model("qwen3-32b"), ctx=131072, parallel=8, engine="vllm", quant="BF16",
                          pool_bytes=80 * GIB, gpu_memory_utilization=0.9)
    assert est.kv_bytes < est.kv_one_sequence_bytes and est.full_length_sequences == 0
    assert est.problems and "refuses to start" in est.problems[0]
    assert any(line.startswith("problem") for line in est.explain())


def test_vllm_fixed_kv_pool_replaces_the_utilization() -> None:
    est = estimate_memory(_dense(), ctx=8192, parallel=4, engine="vllm", kv_pool_bytes=4 * GIB,
                          pool_bytes=24 * GIB, gpu_memory_utilization=0.9)
    assert est.kv_bytes == 4 * GIB and est.reserved_bytes is None and est.full_length_sequences == 4
    short = estimate_memory(_dense(), ctx=65536, parallel=1, engine="vllm", kv_pool_bytes=GIB)
    assert short.problems


def test_gpt_oss_gguf_quants_keep_the_experts_mxfp4() -> None:
    # published gpt-oss-120b Q4_K_M files are ~62-63 GB: only attention and embeddings are K-quants
    est = estimate_memory(resolve_model("gpt-oss-120b"), ctx=8192, quant="Q4_K_M")
    assert 61e9 < est.weights_bytes < 63.5e9
    assert 61e9 < estimate_memory(resolve_model("gpt-oss-120b"), ctx=8192, quant="Q8_0").weights_bytes < 65e9
    dense = estimate_memory(resolve_model("qwen3-32b"), ctx=8192, quant="Q4_K_M")  # not an MXFP4 checkpoint
    assert dense.weights_bytes == int(resolve_model("qwen3-32b").total_params * 4.87 / 8)


def test_headroom_defaults_to_max_of_2_gib_and_5_percent_of_pool() -> None:
    assert estimate_memory(_dense(), ctx=1024).headroom_bytes == 2 * GIB
    assert estimate_memory(_dense(), ctx=1024, pool_bytes=128 * 10**9).headroom_bytes == int(0.05 * 128e9)


def test_explain_shows_every_term() -> None:
    lines = estimate_memory(_dense(), ctx=4096).explain()
    for word in ("weights", "kv", "overhead", "headroom", "total"):
        assert any(line.startswith(word) for line in lines)


def test_requested_quant_reestimates_weights_and_file_quant_stays_exact() -> None:
    shape = _dense(weights_bytes=4_920_000_000, quant="Q4_K_M")
    assert weights_bytes(shape) == (4_920_000_000, False, "Q4_K_M")
    n, estimated, name = weights_bytes(shape, "Q8_0")
    assert estimated and name == "Q8_0" and n == int(8_030_000_000 * 8.5 / 8)


def test_bad_ctx_and_engine_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        estimate_memory(_dense(), ctx=0)
    with pytest.raises(ConfigError):
        normalize_engine("tgi")
    assert normalize_engine("llama.cpp") == "llamacpp"


@pytest.mark.parametrize(("name", "bits"), [("Q4_0", 4.5), ("Q8_0", 8.5), ("Q6_K", 6.5625), ("MXFP4", 4.25),
                                            ("NVFP4", 4.5), ("bf16", 16.0), ("fp8", 8.0)])
def test_quant_bits_include_block_scales(name: str, bits: float) -> None:
    assert get_scheme(name).bits_per_weight == pytest.approx(bits, abs=0.06)


def test_awq_gptq_group_size_sets_scale_overhead() -> None:
    assert get_scheme("AWQ").bits_per_weight == pytest.approx(4 + 20 / 128)
    assert get_scheme("awq-g64").bits_per_weight == pytest.approx(4 + 20 / 64)
    assert get_scheme("GPTQ-g32").bits_per_weight == pytest.approx(4 + 20 / 32)


def test_unknown_quant_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as exc:
        get_scheme("Q3_XYZ")
    assert "Q4_K_M" in exc.value.fix
    assert "NVFP4" in known_quants()


def test_checkpoint_schemes_keep_embeddings_at_bf16() -> None:
    shape = resolve_model("qwen3-32b")
    n = weights_bytes(shape, "NVFP4")[0]
    embed = 2 * 151936 * 5120
    assert n == int((shape.total_params - embed) * 4.5 / 8 + embed * 2)
