"""`lanekit synth` on the command line: JSON contract, dry run, and one-line errors."""

from __future__ import annotations

import json

from lanekit.cli.main import main


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_synth_json_has_the_sums_and_a_synthetic_lane(tiny_config, small_donor, tmp_path, capsys):
    out = tmp_path / "tiny.gguf"
    rc = main(["synth", str(tiny_config), "--out", str(out), "--donor", str(small_donor), "--quant", "q8_0",
               "--seed", "3", "--json"])
    doc = _json(capsys)
    assert rc == 0 and out.is_file()
    assert doc["schema_version"] == 1 and doc["synthetic"] is True
    assert doc["arch"] == "qwen3" and doc["quant"] == "Q8_0" and doc["n_layers"] == 2 and doc["seed"] == 3
    assert doc["lane"] == {"name": "synth-tiny", "engine": "llamacpp", "model": str(out.resolve()), "synthetic": True}
    assert doc["weights_bytes"] < doc["file_bytes"] == out.stat().st_size


def test_fit_on_the_written_file_reports_the_same_weights_and_active_params(tiny_config, small_donor, tmp_path,
                                                                             capsys):
    out = tmp_path / "fitme.gguf"
    main(["synth", str(tiny_config), "--out", str(out), "--donor", str(small_donor), "--json"])
    synth = _json(capsys)
    assert main(["fit", str(out), "--hw", "h100", "--json"]) == 0
    fit = _json(capsys)
    assert fit["weights_bytes"] == synth["weights_bytes"]
    assert fit["active_params"] == synth["active_params"]
    assert fit["quant"] == "Q4_0"


def test_dry_run_writes_nothing_and_prints_the_full_size(tmp_path, small_donor, capsys):
    rc = main(["synth", "Qwen/Qwen3-30B-A3B", "--dry-run", "--pure", "--donor", str(small_donor), "--json"])
    doc = _json(capsys)
    assert rc == 0 and doc["dry_run"] is True
    assert doc["n_layers"] == 48 and doc["vocab_size"] == 512 and doc["n_tensors"] == 579
    assert not list(tmp_path.iterdir())


def test_dry_run_with_model_vocab_keeps_the_catalog_vocabulary(small_donor, capsys):
    main(["synth", "qwen3-32b", "--dry-run", "--vocab", "model", "--layers", "4", "--donor", str(small_donor),
          "--json"])
    doc = _json(capsys)
    assert doc["vocab_size"] == 151936 and doc["n_layers"] == 4


def test_missing_out_unknown_quant_and_unsupported_model_exit_2_with_a_fix(small_donor, capsys):
    assert main(["synth", "qwen3-32b", "--donor", str(small_donor)]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["synth", "qwen3-32b", "--out", "/tmp/x.gguf", "--quant", "Q3_K_XL", "--donor", str(small_donor)]) == 2
    assert "fix:" in capsys.readouterr().err
    assert main(["synth", "Qwen/Qwen3-Coder-Next", "--dry-run", "--donor", str(small_donor)]) == 2
    assert "supported" in capsys.readouterr().err
    assert main(["synth", "qwen3-32b", "--dry-run", "--vocab", "huge", "--donor", str(small_donor)]) == 2
