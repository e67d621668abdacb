"""`lanekit calibrate` on this machine's GPU through benchmarks/gpu/calibrate_h200.sh, held-out models scored.

Collected only with `pytest --gpu`. Needs LANEKIT_LLAMA_BIN_DIR: a folder holding a CUDA
llama-server and llama-bench (the script does not build llama.cpp). The issue's target: every
held-out single-stream decode (1K and 32K depth, through llama-server) within 10% of its prediction.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu" / "calibrate_h200.sh"
TARGET_PCT = float(os.environ.get("LANEKIT_CALIBRATE_TARGET_PCT", "10"))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    if shutil.which("nvidia-smi") is None or subprocess.run(["nvidia-smi"], check=False, capture_output=True).returncode:
        pytest.skip("no NVIDIA GPU here")
    bin_dir = os.environ.get("LANEKIT_LLAMA_BIN_DIR")
    if not bin_dir:
        pytest.skip("set LANEKIT_LLAMA_BIN_DIR to a CUDA llama.cpp build's bin folder")
    out = tmp_path_factory.mktemp("calibrate")
    env = {**os.environ, "LLAMA_BIN_DIR": bin_dir, "WORK": str(out / "work"), "HW": os.environ.get("HW", "h200")}
    run = subprocess.run(["bash", str(SCRIPT), str(out / "res")], env=env, capture_output=True, text=True,
                         timeout=1800, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return json.loads((out / "res" / "report.json").read_text()) | {"_out": str(out / "res")}


def test_every_term_is_pinned_and_the_fit_is_tight(report) -> None:
    assert report["terms"] is not None and set(report["unidentified"]) <= {"expert_extra"}
    assert report["fit_summary"]["median_abs_pct"] < 5


def test_held_out_models_within_target_at_1k_and_32k(report) -> None:
    rows = [r for r in report["held_out_residuals"] if r["path"] == "server"]
    assert {r["depth"] for r in rows} == {1024, 32768}
    bad = [f"{r['probe']}@{r['depth']}: {r['error_pct']:+.1f}%" for r in rows if abs(r["error_pct"]) > TARGET_PCT]
    assert not bad, bad


def test_terms_file_is_the_shipped_format(report) -> None:
    from lanekit.catalog.terms import load_terms_file

    files = list(Path(report["_out"]).glob("*-llamacpp.json"))
    assert len(files) == 1 and load_terms_file(files[0]).hardware == report["hardware"]
