"""Hardware profiles, detection without a GPU, bandwidth measurement, and known-issue matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanekit.catalog import resolve_model
from lanekit.catalog.fit import fit_model
from lanekit.catalog.hardware import (
    PROFILES,
    available_bytes,
    detect,
    get_profile,
    measure_bandwidth,
    meminfo_bytes,
)
from lanekit.catalog.issues import issues_for
from lanekit.errors import ConfigError


def test_gb10_profile_is_the_spark() -> None:
    gb10 = get_profile("spark")
    assert gb10.key == "gb10" and gb10.unified and gb10.compute_capability == "12.1"
    assert gb10.bandwidth_gb_s == 273.0 and gb10.memory_bytes == 128 * 10**9
    assert gb10.usable_bytes < gb10.memory_bytes


@pytest.mark.parametrize("key", ["gb10", "h100-sxm", "h100-pcie", "h200", "a100-80g", "rtx-pro-6000", "rtx-4090",
                                 "rtx-5090", "m4-max", "m3-ultra", "cpu"])
def test_issue_profiles_exist(key: str) -> None:
    assert key in PROFILES and PROFILES[key].bandwidth_gb_s > 0


def test_unknown_profile_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        get_profile("tpu-v5")


def test_detect_without_nvml_gpu_falls_back_to_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    import lanekit.catalog.hardware as hw

    monkeypatch.setattr(hw, "_nvml_device", lambda: None)
    monkeypatch.setattr("platform.system", lambda: "Linux")
    profile = detect()
    assert profile.detected and profile.key == "cpu" and profile.memory_bytes > 0


def test_detect_gb10_uses_meminfo_when_nvml_has_no_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import lanekit.catalog.hardware as hw

    monkeypatch.setattr(hw, "_nvml_device", lambda: ("NVIDIA GB10", None, "12.1"))
    monkeypatch.setattr(hw, "meminfo_bytes", lambda field="MemTotal", path="": 127_500_000_000)
    profile = detect()
    assert profile.key == "gb10" and profile.unified and profile.memory_bytes == 127_500_000_000
    assert available_bytes(profile) == 127_500_000_000


def test_detect_discrete_gpu_uses_nvml_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import lanekit.catalog.hardware as hw

    monkeypatch.setattr(hw, "_nvml_device", lambda: ("NVIDIA H100 80GB HBM3", 85_520_000_000, "9.0"))
    profile = detect()
    assert profile.key == "h100-sxm" and not profile.unified and profile.memory_bytes == 85_520_000_000


def test_meminfo_parser_reads_kib(tmp_path: Path) -> None:
    fake = tmp_path / "meminfo"
    fake.write_text("MemTotal:       131072000 kB\nMemAvailable:   100000000 kB\n")
    assert meminfo_bytes("MemAvailable", str(fake)) == 100_000_000 * 1024
    assert meminfo_bytes("Nope", str(fake)) is None


def test_measure_bandwidth_on_cpu_gives_a_positive_number() -> None:
    result = measure_bandwidth(16 * 1024**2, repeats=2, gpu=False)
    assert result.bandwidth_gb_s > 0.1 and result.device.startswith("cpu")


def test_nvfp4_on_gb10_vllm_flags_cutlass_and_marlin_issues() -> None:
    ids = {i.id for i in issues_for(resolve_model("qwen3.5-122b"), engine="vllm", quant="NVFP4", hardware="gb10",
                                    unified=True)}
    assert {"cutlass-fp4-sm121", "modelopt-nvfp4-marlin", "nvfp4-marlin-backend", "flashinfer-sm121",
            "gdn-hybrid-stock-images", "vllm-sleep-uma"} <= ids


def test_llamacpp_gguf_on_gb10_has_no_vllm_issues() -> None:
    found = issues_for(resolve_model("qwen3-30b-a3b"), engine="llamacpp", quant="Q4_K_M", hardware="gb10",
                       unified=True)
    assert found == []


def test_draft_spec_issue_needs_the_feature_and_unified_memory() -> None:
    shape = resolve_model("qwen3-32b")
    assert not issues_for(shape, engine="llamacpp", quant="Q4_K_M", unified=True)
    with_spec = issues_for(shape, engine="llamacpp", quant="Q4_K_M", unified=True, features={"draft-spec"})
    assert [i.id for i in with_spec] == ["draft-spec-decode-uma"]
    assert not issues_for(shape, engine="llamacpp", quant="Q4_K_M", unified=False, features={"draft-spec"})


def test_every_issue_has_a_source_and_a_fix() -> None:
    from lanekit.catalog.issues import ISSUES

    assert len({i.id for i in ISSUES}) == len(ISSUES)
    assert all(i.source and i.fix for i in ISSUES)


def test_fit_flags_hermes_floor_below_64k_per_request() -> None:
    report = fit_model(resolve_model("qwen3-32b"), get_profile("gb10"), ctx=32768, parallel=2, quant="Q4_K_M")
    assert report.per_request_ctx == 32768 and report.memory.total_ctx == 65536
    assert "hermes-64k-floor" in {i.id for i in report.issues}
    ok = fit_model(resolve_model("qwen3-32b"), get_profile("gb10"), ctx=65536, parallel=2, quant="Q4_K_M")
    assert "hermes-64k-floor" not in {i.id for i in ok.issues}
    other = fit_model(resolve_model("qwen3-32b"), get_profile("gb10"), ctx=32768, parallel=2, quant="Q4_K_M",
                      harness=None)  # an agent without Hermes' floor (`lanekit fit --harness none`)
    assert "hermes-64k-floor" not in {i.id for i in other.issues}


def test_fit_verdicts_on_gb10() -> None:
    gb10 = get_profile("gb10")
    assert fit_model(resolve_model("qwen3-30b-a3b"), gb10, quant="Q4_K_M").fits
    big = fit_model(resolve_model("qwen3-235b-a22b"), gb10, quant="Q4_K_M")
    assert not big.fits and big.verdict == "does not fit" and big.free_after_bytes < 0


def test_fit_mxfp4_on_llamacpp_means_the_mxfp4_moe_gguf() -> None:
    report = fit_model(resolve_model("gpt-oss-120b"), get_profile("gb10"), engine="llamacpp")
    assert report.quant == "MXFP4_MOE" and report.decode_ceiling_tok_s >= 58
