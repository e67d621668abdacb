"""The GPU lane proof as a test: `benchmarks/gpu/run_gpu_proof.sh` end to end on this machine's GPU.

Collected only with `pytest --gpu` (tests/conftest.py). Builds llama.cpp with CUDA unless
LANEKIT_LLAMA_BIN_DIR names a folder holding llama-server and llama-bench; LANEKIT_GPU_PROOF_LAYERS
shortens the model for a quick check. Tolerances, from the H100 run kept in
benchmarks/gpu/results/: lanekit's single-stream figure matches llama-server's own timings within
2 %, and sits 5.8-6.5 % under llama-bench tg128 (the server's per-token sampling and HTTP loop,
which llama-bench does not run), so the llama-bench bound is 8 %.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu" / "run_gpu_proof.sh"
LLAMA_BENCH_TOLERANCE_PCT = float(os.environ.get("LANEKIT_GPU_PROOF_TOLERANCE_PCT", "8"))


@pytest.fixture(scope="module")
def proof(tmp_path_factory) -> dict:
    if shutil.which("nvidia-smi") is None or subprocess.run(["nvidia-smi"], check=False, capture_output=True).returncode != 0:
        pytest.skip("no NVIDIA GPU here")
    out = tmp_path_factory.mktemp("gpu-proof")
    env = {**os.environ, "WORK": str(out / "work"), "SUSTAINED_S": os.environ.get("LANEKIT_GPU_PROOF_SUSTAINED_S", "30"),
           "LANEKIT_FROM_SRC": "1"}
    if os.environ.get("LANEKIT_LLAMA_BIN_DIR"):
        env["LLAMA_BIN_DIR"] = os.environ["LANEKIT_LLAMA_BIN_DIR"]
    if os.environ.get("LANEKIT_GPU_PROOF_LAYERS"):
        env["LAYERS"] = os.environ["LANEKIT_GPU_PROOF_LAYERS"]
    run = subprocess.run(["bash", str(SCRIPT), str(out / "res")], check=False, env=env, capture_output=True,
                         text=True, timeout=3600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return json.loads((out / "res" / "results.json").read_text())


def test_lane_and_every_scenario_ran_and_the_lane_was_torn_down(proof):
    assert proof["lane_error"] is None and not proof["scenario_errors"]
    assert proof["teardown_verified"] is True


def test_fit_reads_the_bytes_synth_wrote(proof):
    assert proof["fit_weights_bytes"] == proof["weights_bytes"]


def test_lanekit_single_stream_matches_the_servers_own_timing(proof):
    assert abs(proof["lanekit_single_tok_s"] / proof["server_decode_tok_s"] - 1) <= 0.02


def test_lanekit_single_stream_is_close_to_llama_bench_tg128(proof):
    assert abs(proof["agreement_pct"]) <= LLAMA_BENCH_TOLERANCE_PCT


def test_sweep_aggregate_grows_with_concurrency(proof):
    agg = [lv["aggregate_tok_s"] for lv in proof["sweep_levels"]]
    assert len(agg) >= 2 and agg[-1] > agg[0]


def test_sustained_run_has_telemetry_and_little_drift(proof):
    assert proof["gpu_temp_max_c"] is not None
    assert abs(proof["sustained_drift_pct"]) <= 15


def test_prediction_lands_within_15_percent_of_llama_bench(proof):
    assert abs(proof["prediction_error_vs_tg128_pct"]) <= 15
