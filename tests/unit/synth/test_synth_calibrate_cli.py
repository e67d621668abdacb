"""`lanekit calibrate` without a GPU: the dry run, and a re-fit from saved measurements that `fit` then uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanekit.catalog.predict import SpeedTerms, decode_workload, predict
from lanekit.catalog.terms_fit import Measurement
from lanekit.cli.main import main
from lanekit.synth.probes import held_out_set, probe_set, probe_shape

TRUTH = SpeedTerms(hardware="cpu", bandwidth_gb_s={"Q4_0": 20.0, "Q4_1": 18.0, "Q4_K": 16.0, "Q6_K": 14.0,
                                                   "Q8_0": 25.0}, default_bandwidth_gb_s=18.0, kv_bandwidth_gb_s=9.0,
                   token_us=40.0, layer_us=8.0, server_token_us=300.0, server_vocab_ns=4.0)


@pytest.fixture(autouse=True)
def _own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANEKIT_HOME", str(tmp_path / "home"))


def _log(work: Path) -> None:
    work.mkdir(parents=True)
    with (work / "measurements.jsonl").open("w") as fh:
        for probe in probe_set("cpu") + [p for p in held_out_set("cpu") if not p.file]:
            shape = probe_shape(probe, 49152)
            for depth in probe.depths:
                w = decode_workload(shape, depth=max(depth, 8) + 32)
                for path in ("bench", "server"):
                    m = Measurement(probe=probe.name, path=path, workload=w, role=probe.role, depth=depth,
                                    tok_s=predict(w, TRUTH, served=path == "server").tok_s)
                    fh.write(m.model_dump_json() + "\n")


def test_dry_run_lists_the_probes_and_what_they_pin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--hw", "h200", "--probes", "gpu", "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["probes"]) == len(probe_set("gpu")) + len(held_out_set("gpu"))
    assert out["not_pinned_at_1pct_noise"] == ["expert_extra"] and out["total_bytes"] > 50e9


def test_refit_saves_terms_that_fit_then_reports_as_calibrated_here(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    _log(work)
    shipped = tmp_path / "cpu-llamacpp.json"
    assert main(["calibrate", "--hw", "cpu", "--probes", "cpu", "--work", str(work), "--refit", "--out",
                 str(shipped), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fit_summary"]["max_abs_pct"] < 1.0 and report["held_out_summary"]["max_abs_pct"] < 1.0
    assert report["terms"]["bandwidth_gb_s"]["Q4_K"] == pytest.approx(16.0, rel=0.02)
    assert json.loads(shipped.read_text())["bandwidth_gb_s"] == report["terms"]["bandwidth_gb_s"]
    assert (work / "report.json").is_file()
    assert main(["fit", str(tmp_path / "none.gguf")]) == 2  # sanity: fit still refuses what is missing
    capsys.readouterr()
    assert main(["fit", "qwen3-32b", "--hw", "cpu", "--quant", "Q4_K_M", "--json"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["prediction_origin"] == "calibrated" and fit["prediction_source"].startswith("calibrated here")


def test_bad_held_out_depths_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--held-out-depths", "a,b", "--dry-run"]) == 2
    assert "--held-out-depths" in capsys.readouterr().err
