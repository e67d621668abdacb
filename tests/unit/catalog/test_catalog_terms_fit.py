"""The least-squares fit: it recovers known terms from the probe design, and scores held-out rows."""

from __future__ import annotations

import random

import pytest

from lanekit.catalog.hardware import get_profile
from lanekit.catalog.predict import DecodeWorkload, SpeedTerms, decode_workload, predict
from lanekit.catalog.terms_fit import Measurement, fit_terms, residual_summary, score
from lanekit.errors import ConfigError
from lanekit.synth.probes import held_out_set, probe_set, probe_shape

TRUTH = SpeedTerms(hardware="h200", bandwidth_gb_s={"Q4_0": 1670.0, "Q4_K": 1390.0, "Q5_K": 1570.0, "Q6_K": 1800.0,
                                                    "Q8_0": 2270.0, "MXFP4": 1500.0},
                   default_bandwidth_gb_s=1600.0, kv_bandwidth_gb_s=1200.0, token_us=30.0, layer_us=12.0,
                   expert_us=2.5, server_token_us=170.0, server_vocab_ns=3.3)


def _rows(probes, noise: float, seed: int = 0) -> list[Measurement]:
    rng = random.Random(seed)
    rows = []
    for probe in probes:
        shape = probe_shape(probe, 49152)
        for depth in probe.depths:
            w = decode_workload(shape, depth=max(depth, 8) + 32)
            for path in ("bench", "server"):
                if probe.role == "held_out" and path == "bench":
                    continue
                tok_s = predict(w, TRUTH, served=path == "server").tok_s * (1 + rng.gauss(0, noise))
                rows.append(Measurement(probe=probe.name, path=path, workload=w, tok_s=tok_s, role=probe.role,
                                        depth=depth))
    return rows


def test_fit_recovers_the_terms_from_the_gpu_probe_design() -> None:
    result = fit_terms(_rows(probe_set("gpu"), 0.0), hardware="h200", peak_bandwidth_gb_s=4800.0)
    t = result.terms
    for ggml_type, bw in TRUTH.bandwidth_gb_s.items():
        assert t.bandwidth_gb_s[ggml_type] == pytest.approx(bw, rel=0.01), ggml_type
    assert t.layer_us == pytest.approx(12.0, rel=0.02) and t.expert_us == pytest.approx(2.5, rel=0.05)
    assert t.kv_bandwidth_gb_s == pytest.approx(1200.0, rel=0.02)
    assert t.server_vocab_ns == pytest.approx(3.3, rel=0.02) and t.server_token_us == pytest.approx(170, rel=0.02)
    assert result.terms.fit["residuals"]["max_abs_pct"] < 0.5


def test_with_two_percent_noise_held_out_models_stay_within_five_percent() -> None:
    rows = _rows(probe_set("gpu"), 0.02, seed=1) + _rows(held_out_set("gpu"), 0.0)
    terms = fit_terms(rows, hardware="h200", peak_bandwidth_gb_s=4800.0).terms
    held = score([m for m in rows if m.role == "held_out"], terms)
    assert len(held) == 8 and residual_summary(held)["max_abs_pct"] < 5.0
    assert {r.depth for r in held} == {1024, 32768}


def test_held_out_rows_never_enter_the_fit() -> None:
    rows = _rows(probe_set("gpu"), 0.0)
    skewed = [m.model_copy(update={"role": "held_out", "tok_s": m.tok_s * 3}) for m in rows[:10]]
    assert fit_terms(rows, hardware="h200").terms.layer_us == pytest.approx(
        fit_terms(rows + skewed, hardware="h200").terms.layer_us)


def test_a_design_that_cannot_separate_terms_says_so() -> None:
    # every row the same shape: bytes, layers and the token cost are one number
    w = DecodeWorkload(type_bytes={"Q4_0": 1e9}, n_layers=32)
    rows = [Measurement(probe=f"p{i}", path="bench", workload=w, tok_s=100.0 + i) for i in range(5)]
    result = fit_terms(rows, hardware="h200")
    assert {"bytes:Q4_0", "token", "layer"} <= set(result.unidentified)


def test_too_few_rows_is_a_config_error() -> None:
    w = DecodeWorkload(type_bytes={"Q4_0": 1e9}, n_layers=32)
    with pytest.raises(ConfigError, match="at least 4"):
        fit_terms([Measurement(probe="p", path="bench", workload=w, tok_s=100.0)], hardware="h200")


def test_cpu_probe_design_pins_every_term_that_matters() -> None:
    from lanekit.synth.calibration import design_check

    assert set(design_check(probe_set("cpu"), 49152, get_profile("cpu"))) <= {"token"}
    assert set(design_check(probe_set("gpu"), 49152, get_profile("h200"))) <= {"expert_extra"}


def test_anchor_normalisation_divides_out_a_busy_moment() -> None:
    from lanekit.catalog.terms_fit import normalize_to_anchor

    w = DecodeWorkload(type_bytes={"Q4_0": 1e9}, n_layers=32)
    quiet = Measurement(probe="a", path="bench", workload=w, tok_s=100.0, anchor_tok_s=400.0)
    busy = Measurement(probe="b", path="bench", workload=w, tok_s=50.0, anchor_tok_s=200.0)  # half the core
    plain = Measurement(probe="c", path="bench", workload=w, tok_s=70.0)
    assert [m.tok_s for m in normalize_to_anchor([quiet, busy])] == [100.0, 100.0]
    assert normalize_to_anchor([quiet, busy, plain]) == [quiet, busy, plain]  # never a mix of footings


def test_a_row_slowed_tenfold_is_left_out_and_listed() -> None:
    rows = _rows(probe_set("gpu"), 0.005, seed=2)
    rows[3] = rows[3].model_copy(update={"tok_s": rows[3].tok_s / 10})
    result = fit_terms(rows, hardware="h200", peak_bandwidth_gb_s=4800.0)
    assert len(result.dropped) == 1 and result.dropped[0].startswith(rows[3].probe)
    assert result.terms.layer_us == pytest.approx(12.0, rel=0.05)
    assert result.terms.fit["residuals"]["max_abs_pct"] < 3.0
