"""The synthetic model's tensor list: shapes per arch, byte sums against published file sizes,
parameter counts against the catalog, and llama-quantize's per-tensor type choices."""

from __future__ import annotations

import pytest
from gguf import GGMLQuantizationType as T

from lanekit.catalog.models import resolve_model
from lanekit.errors import ConfigError, ModelError
from lanekit.synth import plan_model
from lanekit.synth.plan import dense_ffn
from lanekit.synth.quant_rules import pick_type, use_more_bits

GB = 1e9
GIB = 2**30


def _tensors(plan):
    return {t.name: t for t in plan.tensors}


def test_qwen3moe_layer_has_router_and_stacked_experts_in_llama_cpp_layout():
    t = _tensors(plan_model("Qwen/Qwen3-30B-A3B", layers=2))
    assert t["blk.1.ffn_gate_exps.weight"].dims == (2048, 768, 128)
    assert t["blk.1.ffn_up_exps.weight"].dims == (2048, 768, 128)
    assert t["blk.1.ffn_down_exps.weight"].dims == (768, 2048, 128)
    assert t["blk.1.ffn_gate_inp.weight"].dims == (2048, 128)
    assert t["blk.1.ffn_gate_inp.weight"].qtype == T.F32  # llama-quantize never quantizes the router
    assert t["blk.0.attn_q.weight"].dims == (2048, 32 * 128)
    assert t["blk.0.attn_k.weight"].dims == (2048, 4 * 128)
    assert t["blk.0.attn_q_norm.weight"].dims == (128,)
    assert "blk.2.attn_q.weight" not in t and "blk.0.ffn_gate.weight" not in t


def test_dense_qwen3_and_llama_have_plain_ffn_and_derived_width():
    assert dense_ffn(resolve_model("Qwen/Qwen3-32B")) == 25600
    assert dense_ffn(resolve_model("llama-3.3-70b")) == 28672
    t = _tensors(plan_model("Qwen/Qwen3-32B", layers=1))
    assert t["blk.0.ffn_down.weight"].dims == (25600, 5120)
    llama = _tensors(plan_model("llama-3.3-70b", layers=1))
    assert "blk.0.attn_q_norm.weight" not in llama and llama["blk.0.ffn_up.weight"].dims == (8192, 28672)


def test_gpt_oss_has_biases_sinks_and_post_attention_norm():
    plan = plan_model("openai/gpt-oss-20b", quant="MXFP4_MOE", layers=1)
    t = _tensors(plan)
    assert t["blk.0.attn_sinks.weight"].dims == (64,)
    assert t["blk.0.ffn_down_exps.bias"].dims == (2880, 32)
    assert t["blk.0.ffn_gate_exps.weight"].qtype == T.MXFP4
    assert t["blk.0.attn_q.weight"].qtype == T.Q8_0
    assert plan.metadata["gpt-oss.attention.sliding_window"] == 128


@pytest.mark.parametrize(("model", "quant", "vocab", "low", "high", "unit"), [
    # published GGUF sizes: Qwen3-30B-A3B Q4_K_M 18.6 GB, Qwen3-32B Q4_K_M 19.8 GB,
    # gpt-oss-20b / -120b MXFP4 12.1 / 63.4 GB, Llama-3.3-70B Q4_K_M 42.5 GB
    ("Qwen/Qwen3-30B-A3B", "Q4_K_M", None, 18.4, 18.7, GB),
    ("Qwen/Qwen3-32B", "Q4_K_M", None, 19.6, 19.9, GB),
    ("openai/gpt-oss-20b", "MXFP4_MOE", None, 12.0, 12.2, GB),
    ("openai/gpt-oss-120b", "MXFP4_MOE", None, 63.2, 63.6, GB),
    ("llama-3.3-70b", "Q4_K_M", None, 42.3, 42.7, GB),
    # issue 8's synthetic files (Q4_0, 49,152-token vocab): 15.8 GiB and 17.8 GB
    ("Qwen/Qwen3-30B-A3B", "Q4_0", 49152, 15.75, 15.85, GIB),
])
def test_full_size_plans_match_published_file_sizes(model, quant, vocab, low, high, unit):
    plan = plan_model(model, quant=quant, vocab_size=vocab)
    assert low <= plan.weights_bytes / unit <= high


def test_pure_q4_0_dense_32b_matches_issue_8_reference_size():
    plan = plan_model("Qwen/Qwen3-32B", quant="Q4_0", vocab_size=49152, pure=True)
    assert 17.75 <= plan.weights_bytes / GB <= 17.85
    assert plan.type_bytes().keys() == {"Q4_0", "F32"}


@pytest.mark.parametrize("model", ["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-32B", "openai/gpt-oss-20b", "llama-3.3-70b"])
def test_active_params_agree_with_the_catalog(model):
    shape = resolve_model(model)
    plan = plan_model(model, quant="Q8_0")
    # the catalog ignores norms, biases and sinks (< 0.1 %)
    assert plan.active_params == pytest.approx(shape.active_params, rel=1e-3)


def test_layer_override_scales_the_per_layer_part_only():
    full, two = plan_model("Qwen/Qwen3-30B-A3B"), plan_model("Qwen/Qwen3-30B-A3B", layers=2)
    per_layer = (full.total_params - two.total_params) / 46
    assert two.total_params == pytest.approx(full.total_params - 46 * per_layer)
    assert two.n_layers == 2 and two.metadata["qwen3moe.block_count"] == 2


def test_arch_metadata_carries_head_dim_and_experts():
    meta = plan_model("Qwen/Qwen3-30B-A3B", layers=1).metadata
    assert meta["qwen3moe.attention.key_length"] == 128
    assert meta["qwen3moe.rope.dimension_count"] == 128  # n_rot must equal head_dim
    assert meta["qwen3moe.expert_count"] == 128 and meta["qwen3moe.expert_used_count"] == 8
    assert meta["qwen3moe.expert_feed_forward_length"] == 768


def test_hybrid_and_unknown_archs_are_refused_with_the_supported_list():
    with pytest.raises(ModelError, match="supported"):
        plan_model("Qwen/Qwen3-Coder-Next", layers=1)
    with pytest.raises(ModelError):
        plan_model("nemotron-nano-9b-v2", layers=1)


def test_bad_layers_and_quant_are_config_errors():
    with pytest.raises(ConfigError, match="--layers"):
        plan_model("Qwen/Qwen3-32B", layers=0)
    with pytest.raises(ConfigError, match="--quant"):
        plan_model("Qwen/Qwen3-32B", quant="Q3_K_XL", layers=1)


def test_output_gets_q6_k_unless_the_base_is_q8_0():
    kw = {"n_layers": 48, "n_experts": 128, "arch": "qwen3moe"}
    assert pick_type("Q4_0", "output.weight", (2048, 49152), **kw) == T.Q6_K
    assert pick_type("Q8_0", "output.weight", (2048, 49152), **kw) == T.Q8_0
    assert pick_type("Q4_0", "output.weight", (2048, 49152), pure=True, **kw) == T.Q4_0
    assert pick_type("Q4_0", "token_embd.weight", (2048, 49152), **kw) == T.Q4_0


def test_q4_k_m_gives_more_bits_to_attn_v_and_ffn_down_in_chosen_layers():
    kw = {"n_layers": 48, "n_experts": 128, "arch": "qwen3moe"}
    more = [il for il in range(48) if use_more_bits(il, 48)]
    assert more[:6] == [0, 1, 2, 3, 4, 5] and 8 in more and 7 not in more
    assert pick_type("Q4_K_M", "blk.0.attn_v.weight", (2048, 512), **kw) == T.Q6_K
    assert pick_type("Q4_K_M", "blk.7.attn_v.weight", (2048, 512), **kw) == T.Q4_K
    assert pick_type("Q4_K_M", "blk.8.ffn_down_exps.weight", (768, 2048, 128), **kw) == T.Q6_K
    assert pick_type("Q4_K_M", "blk.7.ffn_down_exps.weight", (768, 2048, 128), **kw) == T.Q4_K


def test_eight_expert_models_keep_attn_k_v_at_q8_0():
    kw = {"n_layers": 32, "n_experts": 8, "arch": "qwen3moe"}
    assert pick_type("Q4_K_M", "blk.3.attn_k.weight", (4096, 1024), **kw) == T.Q8_0
    assert pick_type("Q4_K_M", "blk.3.attn_v.weight", (4096, 1024), **kw) == T.Q8_0


def test_rows_that_are_not_whole_k_blocks_fall_back_like_llama_quantize():
    kw = {"n_layers": 24, "n_experts": 32, "arch": "gpt-oss"}
    assert pick_type("Q4_K_M", "blk.5.attn_q.weight", (2880, 4096), **kw) == T.Q5_0
    assert pick_type("Q6_K", "blk.5.attn_q.weight", (2880, 4096), **kw) == T.Q8_0
    assert pick_type("Q4_0", "output.weight", (2880, 201088), **kw) == T.Q8_0  # Q6_K would not fit 2880


def test_norms_biases_and_routers_stay_f32():
    kw = {"n_layers": 2, "n_experts": 32, "arch": "gpt-oss"}
    for name, dims in [("blk.0.attn_norm.weight", (2880,)), ("blk.0.attn_q.bias", (4096,)),
                       ("blk.0.ffn_gate_inp.weight", (2880, 32)), ("blk.0.attn_sinks.weight", (64,)),
                       ("blk.0.ffn_down_exps.bias", (2880, 32))]:
        assert pick_type("MXFP4_MOE", name, dims, **kw) == T.F32
