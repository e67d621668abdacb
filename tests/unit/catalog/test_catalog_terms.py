"""Which terms apply: calibrated here > legacy fit > shipped > generic estimate; one file format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanekit.catalog import terms as terms_mod
from lanekit.catalog.hardware import DecodeTerms, get_profile
from lanekit.catalog.predict import SpeedTerms
from lanekit.catalog.terms import (
    load_terms_file,
    resolve_terms,
    save_terms,
    shipped_terms,
    terms_engine,
    terms_filename,
)
from lanekit.errors import ConfigError


@pytest.fixture(autouse=True)
def _own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANEKIT_HOME", str(tmp_path / "home"))


def _calibrated(hardware: str, bw: float = 1234.0) -> SpeedTerms:
    return SpeedTerms(hardware=hardware, origin="calibrated", source="lanekit calibrate (test)",
                      bandwidth_gb_s={"Q4_0": bw}, default_bandwidth_gb_s=bw, layer_us=7.0)


def test_unknown_box_gets_the_generic_estimate_and_says_so() -> None:
    t = resolve_terms(get_profile("rtx-4090"), "llamacpp")
    assert t.origin == "estimate" and t.label == "estimate" and t.source.startswith("generic")
    assert t.default_bandwidth_gb_s == pytest.approx(0.75 * 1008.0)


def test_shipped_terms_apply_to_their_hardware_and_the_spark_stays_an_estimate() -> None:
    assert resolve_terms(get_profile("h100"), "llamacpp").origin == "shipped"
    spark = resolve_terms(get_profile("gb10"), "llamacpp")
    assert spark.origin == "estimate" and "calibrate" in spark.source


def test_calibrated_here_wins_over_shipped() -> None:
    path = save_terms(_calibrated("h100-sxm"))
    assert path.name == "h100-sxm-llamacpp.json" and path.parent.name == "speed_terms"
    t = resolve_terms(get_profile("h100"), "llamacpp")
    assert t.origin == "calibrated" and t.bandwidth_for("Q4_0") == 1234.0


def test_a_file_calibrate_wrote_drops_into_the_shipped_folder_as_it_is(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = tmp_path / "shipped"
    save_terms(_calibrated("h200", 1500.0), shipped)
    monkeypatch.setattr(terms_mod, "SHIPPED_DIR", shipped)
    t = shipped_terms("h200", "llamacpp")
    assert t is not None and t.origin == "shipped" and t.bandwidth_for("Q4_0") == 1500.0
    assert resolve_terms(get_profile("h200"), "llamacpp").origin == "shipped"


def test_every_shipped_file_is_valid_and_named_for_its_content() -> None:
    files = sorted(terms_mod.SHIPPED_DIR.glob("*.json"))
    assert files
    for path in files:
        t = load_terms_file(path)
        assert path.name == terms_filename(t.hardware, t.engine)
        get_profile(t.hardware)  # names a real profile


def test_legacy_two_term_fit_is_used_as_calibrated() -> None:
    hw = get_profile("rtx-4090").model_copy(update={"decode_terms": {"llamacpp": DecodeTerms(
        effective_bandwidth_gb_s=800, per_layer_latency_us=30, source="calibrated here", estimated=False)}})
    t = resolve_terms(hw, "llamacpp")
    assert t.origin == "calibrated" and t.default_bandwidth_gb_s == 800 and t.layer_us == 30


def test_broken_terms_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "h200-llamacpp.json"
    bad.write_text(json.dumps({"hardware": "h200"}))  # no bandwidth
    with pytest.raises(ConfigError, match="h200-llamacpp.json"):
        load_terms_file(bad)


def test_docker_and_alias_engines_share_the_engine_terms() -> None:
    assert terms_engine("vllm-docker") == "vllm" and terms_engine("llama.cpp") == "llamacpp"
    assert terms_engine("nim") == "nim"
