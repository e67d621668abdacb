"""The decode cost model: bytes per weight type, KV at depth, server cost, and what `fit` shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanekit.catalog import resolve_model
from lanekit.catalog.models import shape_from_gguf
from lanekit.catalog.predict import DecodeWorkload, SpeedTerms, decode_workload, kv_read_bytes, predict
from lanekit.catalog.quants import gguf_types
from lanekit.cli.main import main

TERMS = SpeedTerms(hardware="test", bandwidth_gb_s={"Q4_0": 1000.0, "Q8_0": 2000.0}, default_bandwidth_gb_s=500.0,
                   kv_bandwidth_gb_s=250.0, token_us=10.0, layer_us=5.0, expert_us=2.0,
                   expert_extra_ps_per_byte=0.5, server_token_us=100.0, server_vocab_ns=2.0)


def test_each_term_adds_its_own_microseconds() -> None:
    w = DecodeWorkload(type_bytes={"Q4_0": 1e9, "Q8_0": 2e9, "Q6_K": 5e8}, n_layers=40, expert_calls=100,
                       expert_bytes=1e9, n_vocab=100_000, kv_bytes=5e8, depth=4096)
    served = predict(w, TERMS, served=True)
    parts = served.parts_us
    assert parts["weights"] == pytest.approx(1000 + 1000 + 1000)  # 1 GB at 1 TB/s, 2 at 2, 0.5 at 0.5
    assert parts["layers"] == 200 and parts["token"] == 10
    assert parts["experts"] == pytest.approx(100 * 2 + 1e9 * 0.5e-6)
    assert parts["kv"] == pytest.approx(2000)
    assert parts["server"] == pytest.approx(100 + 200)
    assert served.seconds_per_token == pytest.approx(sum(parts.values()) * 1e-6)
    assert served.fallback_types == ["Q6_K"]  # read at the default bandwidth, and said so
    bench = predict(w, TERMS, served=False)
    assert bench.parts_us["server"] == 0 and bench.tok_s > served.tok_s


def test_server_cost_grows_with_the_vocabulary() -> None:
    small, big = (DecodeWorkload(type_bytes={"Q4_0": 1e9}, n_layers=10, n_vocab=v) for v in (32_000, 152_000))
    assert predict(big, TERMS).seconds_per_token - predict(small, TERMS).seconds_per_token == pytest.approx(
        120_000 * 2e-9)


def test_gguf_workload_reads_every_tensor_but_the_untied_input_table(smollm2_gguf: Path) -> None:
    tied = shape_from_gguf(smollm2_gguf)  # SmolLM2 ties lm_head to the embedding: all of it is read
    w = decode_workload(tied)
    assert sum(w.type_bytes.values()) == tied.weights_bytes
    assert set(w.type_bytes) == {"Q4_1", "Q8_0", "F32"} and w.expert_calls == 0


def test_moe_gguf_reads_top_k_of_the_experts(make_gguf) -> None:
    path = make_gguf("moe.gguf", "qwen3moe", layers=2, experts=8, experts_used=2, expert_ffn=32)
    shape = shape_from_gguf(path)
    w = decode_workload(shape)
    expert_total = sum(shape.expert_type_bytes.values())
    assert w.expert_bytes == pytest.approx(expert_total * 2 / 8) and w.expert_calls == 2 * 2
    assert sum(w.type_bytes.values()) == pytest.approx(sum(shape.dense_type_bytes.values()) + w.expert_bytes)


def test_kv_read_grows_with_depth_and_windowed_layers_stop_at_the_window() -> None:
    dense = resolve_model("qwen3-32b")
    assert kv_read_bytes(dense, 2048) == 2 * kv_read_bytes(dense, 1024) > 0
    oss = resolve_model("gpt-oss-20b")
    grow = kv_read_bytes(oss, 65536) - kv_read_bytes(oss, 32768)
    from lanekit.catalog.memory import kv_bytes_per_token

    assert grow == pytest.approx(kv_bytes_per_token(oss) * 32768)  # only the global half grows


@pytest.mark.parametrize(("model", "quant", "types"), [
    ("Qwen/Qwen3-32B", "Q4_K_M", None), ("Qwen/Qwen3-30B-A3B", "Q4_K_M", None), ("Qwen/Qwen3-32B", "Q8_0", None),
    # gpt-oss rows of 2880 fall back per tensor (attn_output's 4096 does not): only the experts are exact
    ("openai/gpt-oss-20b", "Q4_K_M", {"MXFP4"})])
def test_priced_type_split_matches_what_llama_quantize_would_write(model: str, quant: str, types) -> None:
    # the catalog's type mix (quants.GGUF_TYPE_MIX) against synth's llama-quantize rules
    from lanekit.synth import plan_model

    shape = resolve_model(model)
    plan = plan_model(shape, quant=quant, vocab_size=shape.vocab_size)
    moe = shape.n_experts
    planned: dict[str, float] = {}
    for t in plan.tensors:
        if t.name == "token_embd.weight" or t.qtype.name == "F32":
            continue
        planned[t.qtype.name] = planned.get(t.qtype.name, 0) + t.nbytes * (
            shape.n_experts_used / moe if t.is_expert else 1)
    priced = decode_workload(shape, quant=quant).type_bytes
    total = sum(planned.values())
    for ggml_type, nbytes in planned.items():
        if types is not None and ggml_type not in types:
            continue
        assert priced.get(ggml_type, 0) / total == pytest.approx(nbytes / total, abs=0.04), ggml_type
    assert sum(priced.values()) == pytest.approx(total, rel=0.05)


def test_mix_table_names_real_ggml_types() -> None:
    assert gguf_types("Q4_K_M", "ffn") == {"Q4_K": 0.80, "Q6_K": 0.20}
    assert gguf_types("Q4_0", "ffn") == {"Q4_0": 1.0} and gguf_types("Q4_0", "output") == {"Q6_K": 1.0}
    assert gguf_types("Q8_0", "output") == {"Q8_0": 1.0}


def _fit_json(capsys, args: list[str]) -> dict:
    assert main(["fit", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_fit_shows_the_prediction_its_source_and_speed_at_full_context(capsys) -> None:
    out = _fit_json(capsys, ["qwen3-30b-a3b", "--hw", "a100-80g", "--quant", "Q4_K_M", "--ctx", "32768"])
    assert out["prediction_origin"] == "estimate" and out["prediction_source"].startswith("estimate: generic")
    assert out["predicted_at_ctx_tok_s"] < out["predicted_decode_tok_s"] < out["predicted_bench_tok_s"]
    assert out["prediction_depth"] == 1024
    for hw in ("h100", "h200"):  # both calibrated on a real GPU (benchmarks/gpu/results)
        shipped = _fit_json(capsys, ["qwen3-30b-a3b", "--hw", hw, "--quant", "Q4_K_M"])
        assert shipped["prediction_origin"] == "shipped", hw


def test_fit_ctx_is_per_request_and_the_total_is_shown(capsys) -> None:
    one = _fit_json(capsys, ["qwen3-32b", "--hw", "gb10", "--quant", "Q4_K_M", "--ctx", "65536"])
    four = _fit_json(capsys, ["qwen3-32b", "--hw", "gb10", "--quant", "Q4_K_M", "--ctx", "65536", "--parallel", "4"])
    assert four["ctx"] == four["per_request_ctx"] == 65536 and four["total_ctx"] == 262144
    assert four["kv_bytes"] == 4 * one["kv_bytes"]
    assert main(["fit", "qwen3-32b", "--hw", "gb10", "--ctx", "65536", "--parallel", "4"]) == 0
    assert "65,536 per request x parallel 4 = 262,144" in capsys.readouterr().out


def test_fit_vllm_assumes_the_default_reservation_when_unset(capsys) -> None:
    out = _fit_json(capsys, ["qwen3-30b-a3b", "--hw", "gb10", "--engine", "vllm", "--quant", "FP8", "--ctx", "65536"])
    assert out["gpu_memory_utilization"] == 0.9 and out["reserved_bytes"] == int(0.9 * 128e9)
    small = _fit_json(capsys, ["qwen3-32b", "--hw", "h100", "--engine", "vllm", "--quant", "BF16",
                               "--ctx", "131072"])
    assert not small["fits"] and small["memory_problems"] and "reservation" in small["verdict"]
