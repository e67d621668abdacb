"""Roofline ceilings and the calibrated decode prediction (H100 + llama.cpp measured points)."""

from __future__ import annotations

import pytest

from lanekit.catalog import resolve_model
from lanekit.catalog.hardware import DecodeTerms, get_profile
from lanekit.catalog.roofline import (
    active_bytes,
    aggregate_ceiling_tok_s,
    calibrate,
    decode_ceiling_tok_s,
    expected_distinct_experts,
    predicted_decode_tok_s,
    predicted_token_s,
    prefill_ceiling_tok_s,
    speed_summary,
)
from lanekit.errors import ConfigError

# Issue 3: H100, llama.cpp, synthetic shapes at Q4_0 and Q8_0: (GB read per token, layers, ms/token).
H100_LLAMACPP_POINTS = [
    (1.64, 48, 3.09),  # Qwen3-30B-A3B shape, Q4_0
    (3.05, 48, 3.67),  # Qwen3-30B-A3B shape, Q8_0
    (0.85, 28, 1.58),  # dense 2B shape, Q4_0
    (1.60, 28, 1.89),  # dense 2B shape, Q8_0
    (17.7, 64, 11.2),  # dense 32B shape
]


def _h100_bench_ms(gb: float, layers: int) -> float:
    from lanekit.catalog.predict import DecodeWorkload, predict
    from lanekit.catalog.terms import resolve_terms

    terms = resolve_terms(get_profile("h100"), "llamacpp")
    assert terms.origin == "shipped"
    return predict(DecodeWorkload(type_bytes={"Q4_0": gb * 1e9}, n_layers=layers), terms, served=False).seconds_per_token * 1e3


@pytest.mark.parametrize(("gb", "layers", "ms"), H100_LLAMACPP_POINTS)
def test_h100_llamacpp_prediction_within_15_percent_of_measured(gb: float, layers: int, ms: float) -> None:
    assert _h100_bench_ms(gb, layers) == pytest.approx(ms, rel=0.15)


def test_h100_shipped_terms_are_the_measured_ones() -> None:
    from lanekit.catalog.terms import shipped_terms

    terms = shipped_terms("h100-sxm", "llamacpp")
    assert terms is not None and terms.origin == "shipped"
    assert terms.default_bandwidth_gb_s == pytest.approx(2400, rel=0.05)  # ~73% of 3.35 TB/s
    assert 44 <= terms.layer_us <= 51


def test_calibrating_from_two_files_recovers_both_terms() -> None:
    truth = DecodeTerms(effective_bandwidth_gb_s=2400, per_layer_latency_us=50)
    points = [(b, 48, predicted_token_s(b, 48, truth)) for b in (1.64e9, 3.05e9)]
    fitted = calibrate(points)
    assert fitted.effective_bandwidth_gb_s == pytest.approx(2400, rel=1e-6)
    assert fitted.per_layer_latency_us == pytest.approx(50, rel=1e-6)
    assert not fitted.estimated


def test_calibrating_the_five_h100_points_gives_the_shipped_terms_roughly() -> None:
    fitted = calibrate([(gb * 1e9, n, ms / 1e3) for gb, n, ms in H100_LLAMACPP_POINTS])
    assert 2000 <= fitted.effective_bandwidth_gb_s <= 3350
    assert 30 <= fitted.per_layer_latency_us <= 70


def test_calibration_rejects_degenerate_points() -> None:
    with pytest.raises(ConfigError):
        calibrate([(1e9, 32, 0.01)])
    with pytest.raises(ConfigError):
        calibrate([(1e9, 32, 0.01), (1e9, 32, 0.011)])


def test_prediction_never_exceeds_the_ceiling() -> None:
    h100 = get_profile("h100")
    for gb, layers, _ in H100_LLAMACPP_POINTS:
        ceiling = decode_ceiling_tok_s(gb * 1e9, h100.bandwidth_gb_s)
        assert 1e3 / _h100_bench_ms(gb, layers) < ceiling
        assert predicted_decode_tok_s(gb * 1e9, layers, h100.terms_for("llamacpp")) < ceiling


def test_ceiling_is_bandwidth_over_bytes() -> None:
    assert decode_ceiling_tok_s(2.73e9, 273.0) == pytest.approx(100.0)


def test_expected_distinct_experts_grows_sublinearly_to_all() -> None:
    assert expected_distinct_experts(128, 8, 1) == pytest.approx(8)
    assert expected_distinct_experts(128, 8, 4) < 32
    assert expected_distinct_experts(128, 8, 1000) == pytest.approx(128, rel=1e-3)
    assert expected_distinct_experts(0, 0, 8) == 0


def test_moe_aggregate_ceiling_at_batch_beats_batch_one_but_not_linearly() -> None:
    ab = active_bytes(resolve_model("qwen3-30b-a3b"), "Q4_K_M")
    one = aggregate_ceiling_tok_s(ab, 273, 1)
    eight = aggregate_ceiling_tok_s(ab, 273, 8)
    assert one == pytest.approx(decode_ceiling_tok_s(ab.per_token_bytes, 273))
    assert one < eight < 8 * one


def test_dense_aggregate_ceiling_scales_with_batch_without_kv_reads() -> None:
    ab = active_bytes(resolve_model("qwen3-32b"), "Q4_K_M")
    assert aggregate_ceiling_tok_s(ab, 273, 4) == pytest.approx(4 * aggregate_ceiling_tok_s(ab, 273, 1))
    assert aggregate_ceiling_tok_s(ab, 273, 4, kv_bytes_read=10**9) < 4 * aggregate_ceiling_tok_s(ab, 273, 1)


def test_active_bytes_moe_counts_top_k_experts_and_no_input_embedding() -> None:
    shape = resolve_model("qwen3-30b-a3b")
    ab = active_bytes(shape, "BF16")
    # 48 layers x 8 of 128 experts x 3 x 2048 x 768 params x 2 bytes
    assert ab.expert_bytes_per_expert_layer * ab.moe_layers * 8 == 48 * 8 * 3 * 2048 * 768 * 2
    assert ab.per_token_bytes == pytest.approx(shape.active_params * 2, rel=1e-6)


def test_mxfp4_checkpoint_keeps_attention_at_bf16_but_gguf_at_q8_0() -> None:
    shape = resolve_model("gpt-oss-120b")
    assert active_bytes(shape, "MXFP4").per_token_bytes > active_bytes(shape, "MXFP4_MOE").per_token_bytes


def test_prefill_ceiling_is_compute_over_two_flops_per_param() -> None:
    shape = resolve_model("qwen3-32b")
    assert prefill_ceiling_tok_s(shape, 100.0) == pytest.approx(100e12 / (2 * shape.active_params))
    assert prefill_ceiling_tok_s(shape, None) is None


def test_speed_summary_reports_ceiling_and_prediction_side_by_side() -> None:
    summary = speed_summary(resolve_model("qwen3-30b-a3b"), get_profile("gb10"), "llamacpp", "Q4_K_M", batch=4)
    assert summary["predicted_decode_tok_s"] < summary["decode_ceiling_tok_s"]
    assert summary["aggregate_ceiling_tok_s"] > summary["decode_ceiling_tok_s"]


def test_decode_roofline_uses_measured_bandwidth_when_present() -> None:
    from lanekit.catalog import decode_roofline
    from lanekit.catalog.hardware import profile_from_dict

    gb10 = get_profile("gb10")
    shape = resolve_model("qwen3-30b-a3b")
    peak = decode_roofline(shape, gb10, quant="Q4_K_M")
    slower = decode_roofline(shape, gb10.model_copy(update={"measured_bandwidth_gb_s": 200.0}), quant="Q4_K_M")
    assert slower.decode_ceiling_tok_s == pytest.approx(peak.decode_ceiling_tok_s * 200 / 273)
    assert profile_from_dict(gb10.model_dump(mode="json")) == gb10
