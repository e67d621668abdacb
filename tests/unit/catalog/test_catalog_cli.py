"""`lanekit fit` and `lanekit hw`: stable JSON keys, the catalog table, calibration, user errors."""

from __future__ import annotations

import json

import pytest

from lanekit.cli.main import main

FIT_KEYS = {"weights_bytes", "kv_bytes_per_token", "kv_bytes", "overhead_bytes", "total_bytes", "available_bytes",
            "fits", "active_params", "bytes_read_per_token", "decode_ceiling_tok_s", "predicted_decode_tok_s",
            "issues", "schema_version", "free_after_bytes", "verdict", "state_bytes", "headroom_bytes"}


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANEKIT_HOME", str(tmp_path / "home"))


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_fit_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, ["fit", "Qwen/Qwen3-30B-A3B", "--hw", "gb10", "--quant", "Q4_K_M", "--ctx", "65536",
                         "--json"])
    assert FIT_KEYS <= set(out)
    assert out["fits"] is True and out["engine"] == "llamacpp" and out["hardware"] == "gb10"
    assert out["kv_bytes"] == out["kv_bytes_per_token"] * 65536
    assert out["decode_ceiling_tok_s"] >= 88
    assert 0 < out["predicted_decode_tok_s"] < out["decode_ceiling_tok_s"]
    assert out["total_bytes"] == (out["weights_bytes"] + out["kv_bytes"] + out["state_bytes"]
                                  + out["overhead_bytes"] + out["headroom_bytes"])


def test_fit_json_for_a_gguf_file_uses_exact_bytes(capsys: pytest.CaptureFixture[str], make_gguf) -> None:
    path = make_gguf("tiny.gguf", "llama", layers=2)
    out = _json(capsys, ["fit", str(path), "--hw", "h100", "--ctx", "2048", "--parallel", "2", "--json"])
    assert "weights" not in out["estimated_parts"] and out["quant"] == "F16"


def test_fit_vllm_json_shows_the_reservation(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, ["fit", "qwen3-30b-a3b", "--hw", "gb10", "--quant", "FP8", "--json",
                         "--gpu-memory-utilization", "0.7"])
    assert out["engine"] == "vllm"
    assert out["total_bytes"] >= int(0.7 * 128e9)
    assert {i["id"] for i in out["issues"]} >= {"flashinfer-sm121"}


def test_fit_table_prints_the_arithmetic(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "gpt-oss-120b", "--hw", "gb10"]) == 0
    text = capsys.readouterr().out
    assert "weights" in text and "ceiling" in text and "predicted" in text and "MXFP4" in text


def test_fit_catalog_covers_every_model(capsys: pytest.CaptureFixture[str]) -> None:
    from lanekit.catalog import catalog_models

    out = _json(capsys, ["fit", "--catalog", "--hw", "gb10", "--json"])
    assert {row["hf_id"] for row in out["rows"]} == {m.hf_id for m in catalog_models()}
    assert all(FIT_KEYS <= set(row) for row in out["rows"])
    assert main(["fit", "--catalog", "--hw", "gb10"]) == 0
    assert "What fits" in capsys.readouterr().out


def test_fit_unknown_model_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "no-such-model", "--hw", "gb10"]) == 2
    assert "fix:" in capsys.readouterr().err


def test_fit_without_model_or_catalog_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--hw", "gb10"]) == 2


def test_hw_json_shows_a_profile(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, ["hw", "--hw", "gb10", "--json"])
    assert out["profile"]["key"] == "gb10" and out["profile"]["bandwidth_gb_s"] == 273.0


def test_hw_list(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, ["hw", "--list", "--json"])
    assert "gb10" in {p["key"] for p in out["profiles"]}


def test_hw_measure_reports_and_saves_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, ["hw", "--hw", "cpu", "--measure", "--size-mb", "256", "--json"])
    assert out["measurement"]["bandwidth_gb_s"] > 0 and out["measurement"]["saved"] is False
    assert _json(capsys, ["hw", "--hw", "cpu", "--json"])["profile"]["measured_bandwidth_gb_s"] is None
    out = _json(capsys, ["hw", "--hw", "cpu", "--measure", "--size-mb", "256", "--save", "--force", "--json"])
    measured = out["measurement"]["bandwidth_gb_s"]
    assert out["measurement"]["saved"] is True
    again = _json(capsys, ["hw", "--hw", "cpu", "--json"])
    assert again["profile"]["measured_bandwidth_gb_s"] == pytest.approx(measured)
    assert _json(capsys, ["hw", "--hw", "cpu", "--reset", "--json"])["profile"]["measured_bandwidth_gb_s"] is None


def test_hw_calibrate_from_two_files_is_used_by_fit(capsys: pytest.CaptureFixture[str], make_gguf) -> None:
    small = make_gguf("small.gguf", "llama", layers=4, hidden=128, ffn=256)
    large = make_gguf("large.gguf", "llama", layers=4, hidden=256, ffn=512)
    out = _json(capsys, ["hw", "--hw", "rtx-4090", "--calibrate", f"{small}=900", "--calibrate", f"{large}=500",
                         "--engine", "llamacpp", "--json"])
    terms = out["calibration"]["terms"]
    assert terms["effective_bandwidth_gb_s"] > 0 and not terms["estimated"]
    fit = _json(capsys, ["fit", str(small), "--hw", "rtx-4090", "--depth", "0", "--json"])
    assert fit["prediction_origin"] == "calibrated" and "calibrated here" in fit["prediction_source"]
    assert fit["prediction_terms"]["default_bandwidth_gb_s"] == pytest.approx(terms["effective_bandwidth_gb_s"])
    # the two-term fit came from llama-bench speeds: its bench prediction reproduces them
    assert fit["predicted_bench_tok_s"] == pytest.approx(900, rel=0.01)
    assert fit["predicted_decode_tok_s"] < fit["predicted_bench_tok_s"]  # the server's per-token cost


def test_hw_calibrate_rejects_malformed_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hw", "--hw", "gb10", "--calibrate", "nofile", "--calibrate", "x=y"]) == 2


def test_hw_measure_refuses_a_test_too_small_to_mean_anything(capsys: pytest.CaptureFixture[str]) -> None:
    from lanekit.cli.main import main

    assert main(["hw", "--measure", "--size-mb", "64"]) == 2
    assert "too small to measure" in capsys.readouterr().err


def test_hw_measure_on_a_gpu_box_without_cupy_never_times_the_cpu_as_the_gpu(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from lanekit.catalog import hardware
    from lanekit.cli.main import main

    spark = hardware.PROFILES["gb10"].model_copy(update={"detected": True})
    monkeypatch.setattr(hardware, "detect", lambda: spark)
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy → ImportError
    assert main(["hw", "--hw", "gb10", "--measure", "--size-mb", "256", "--save"]) == 2
    assert "cupy is not installed: measuring would time the CPU" in capsys.readouterr().err
    out = _json(capsys, ["hw", "--hw", "gb10", "--measure", "--size-mb", "256", "--device", "cpu", "--json"])
    assert out["measurement"]["device"].startswith("cpu") and out["measurement"]["saved"] is False
    assert main(["hw", "--hw", "gb10", "--measure", "--size-mb", "256", "--device", "cpu", "--save", "--force"]) == 1
    assert "does not measure gb10's GPU bandwidth" in capsys.readouterr().out
    assert _json(capsys, ["hw", "--hw", "gb10", "--json"])["profile"]["bandwidth_gb_s"] == 273.0
    assert _json(capsys, ["hw", "--hw", "gb10", "--json"])["profile"]["measured_bandwidth_gb_s"] is None
