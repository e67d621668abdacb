"""Honest throughput against the real llama-server with the embedded SmolLM2 on 4-slot lanes.

Lanes use one thread: on a small box shared with other llama-servers, two spinning threads per
server oversubscribe the cores and decode collapses to ~1 tok/s. Each test prints the figures it
asserts on (run with -s to see them).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lanekit.lanes import LaneSpec, serve_lane
from lanekit.load.scenarios import run_prefix, run_single, run_sustained, run_sweep


@pytest.fixture(scope="module")
def lane(llama_server):
    spec = LaneSpec(name="it-load", engine="llamacpp", model="smollm2-135m", ctx=1024, parallel=4, threads=1)
    with serve_lane(spec) as lane:
        yield lane


def predicted_total(lane) -> float:
    text = httpx.get(lane.metrics_url, timeout=10).text
    return next(float(ln.split()[-1]) for ln in text.splitlines() if ln.startswith("llamacpp:tokens_predicted_total"))


def test_single_stream_agrees_with_the_servers_own_timing_within_5pct(lane):
    res = run_single(lane.base_url, lane.model_id, samples=3, max_tokens=64, warmup=1)
    s = res.summary
    pairs = [(x["decode_tok_s"], x["server_decode_tok_s"]) for x in res.samples]
    print(f"\nsingle: client {s['decode_tok_s']} tok/s, server timings {s['server_decode_tok_s']} tok/s, "
          f"agreement {s['server_agreement_pct']}%, per sample {pairs}, roofline {s['roofline']}")
    assert s["samples"] == 3 and s["short_outputs"] == 0 and s["errors"] == 0
    for client, server in pairs:
        assert server and abs(client / server - 1) < 0.05
    assert abs(s["server_agreement_pct"]) < 5
    assert all(x["osl"] == 64 for x in res.samples)  # ignore_eos held the length
    assert s["roofline"]["ceiling_tok_s"] and s["roofline"]["pct_of_ceiling"] < 100


def test_idle_gaps_drag_the_wall_rate_down_while_the_in_flight_rate_holds(lane):
    probe = run_single(lane.base_url, lane.model_id, samples=1, max_tokens=48, warmup=0).summary
    e2e_s = probe["e2e_ms"] / 1e3
    common = {"max_tokens": 48, "metrics_url": lane.metrics_url, "metrics_prefix": lane.engine.metrics_prefix,
              "warmup": 0, "scrape_interval_s": 0.05, "telemetry": False}
    flat = run_sustained(lane.base_url, lane.model_id, duration_s=3 * e2e_s, interval_s=e2e_s, **common).summary
    gappy = run_sustained(lane.base_url, lane.model_id, duration_s=6 * e2e_s, interval_s=e2e_s, gap_s=e2e_s,
                          **common).summary
    fs, gs = flat["server"], gappy["server"]
    print(f"\nflat-out: requests {flat['requests']}, client wall {flat['wall_tok_s']} / in-flight "
          f"{flat['in_flight_tok_s']}, server wall {fs['server_wall_tok_s']} / in-flight {fs['server_in_flight_tok_s']}"
          f"\nidle gaps of {e2e_s:.2f}s: requests {gappy['requests']}, busy {gappy['busy_fraction']}, client wall "
          f"{gappy['wall_tok_s']} / in-flight {gappy['in_flight_tok_s']}, server wall {gs['server_wall_tok_s']} / "
          f"in-flight {gs['server_in_flight_tok_s']}")
    assert gappy["requests"] >= 3 and gappy["busy_fraction"] < 0.75
    # within the gappy run: the wall-divided figure lies, the in-flight one does not
    assert gappy["wall_tok_s"] < 0.75 * gappy["in_flight_tok_s"]
    assert gs["server_wall_tok_s"] < 0.75 * gs["server_in_flight_tok_s"]
    # against the flat-out run: wall falls, in-flight holds (generous: other jobs share these cores)
    assert gappy["wall_tok_s"] < 0.8 * flat["wall_tok_s"]
    assert gs["server_in_flight_tok_s"] == pytest.approx(fs["server_in_flight_tok_s"], rel=0.35)
    assert gappy["in_flight_tok_s"] == pytest.approx(flat["in_flight_tok_s"], rel=0.35)


@pytest.fixture(scope="module")
def f16_model(llama_server, smollm2_path, tmp_path_factory) -> Path:
    """SmolLM2 re-stored as F16: decode reads 4x the bytes, so it is bandwidth-bound as on a GPU."""
    quantize = Path(llama_server).with_name("llama-quantize")
    if not quantize.is_file():
        pytest.skip(f"no llama-quantize next to {llama_server}")
    out = tmp_path_factory.mktemp("f16") / "smollm2-135m-f16.gguf"
    subprocess.run([str(quantize), "--allow-requantize", str(smollm2_path), str(out), "F16"], check=True,
                   capture_output=True, timeout=300)
    return out


def test_sweep_on_a_4_slot_lane_shows_aggregate_rising_with_concurrency(f16_model):
    # Q4_1 SmolLM2 on one CPU thread is compute-bound: each extra stream costs as much as the
    # first, so batching cannot pay. Batching pays where decode is bandwidth-bound (GPUs, the
    # Spark) because one pass over the weights serves every slot; the F16 copy is bandwidth-bound
    # on this CPU too.
    spec = LaneSpec(name="it-load-f16", engine="llamacpp", model=str(f16_model), ctx=512, parallel=4, threads=1)
    with serve_lane(spec) as lane:
        for attempt in range(2):  # other jobs share these cores: one noisy sweep gets one more try
            res = run_sweep(lane.base_url, lane.model_id, concurrency=(1, 2, 4), requests_per_level=8, max_tokens=64,
                            metrics_url=lane.metrics_url, metrics_prefix=lane.engine.metrics_prefix,
                            model_ref=str(f16_model))
            levels = res.summary["levels"]
            agg = {lvl["concurrency"]: lvl["aggregate_tok_s"] for lvl in levels}
            print(f"\nsweep (F16, try {attempt + 1}): " + "; ".join(
                f"c={lvl['concurrency']} per-request {lvl['per_request_tok_s']} aggregate {lvl['aggregate_tok_s']} "
                f"ttft p50/p99 {lvl['ttft_ms_p50']}/{lvl['ttft_ms_p99']} ms server in-flight "
                f"{(lvl['server'] or {}).get('server_in_flight_tok_s')}" for lvl in levels))
            if agg[4] > 1.2 * agg[1] and agg[4] > agg[2]:
                break
    # measured on a quiet 2-core box: c=1 66.7, c=2 51.8, c=4 83.0 tok/s aggregate — two slots on one
    # thread cost this CPU build more than twice one, so only the peak is asserted to beat one stream
    assert res.summary["errors"] == 0
    assert agg[4] > 1.2 * agg[1] and agg[4] > agg[2]
    assert levels[2]["per_request_tok_s"] < levels[0]["per_request_tok_s"]  # each stream slower, the sum higher
    assert res.summary["peak_concurrency"] == 4 and res.summary["scaling_x"] > 1.2


def test_prefix_scenario_shows_the_prompt_cache_at_equal_prompt_length(lane):
    s = run_prefix(lane.base_url, lane.model_id, turns=3, system_words=120, max_tokens=4).summary
    print(f"\nprefix: warm TTFT {s['ttft_ms_warm']} ms vs cold {s['ttft_ms_cold']} ms (x{s['prefix_speedup_x']}), "
          f"ISL {s['isl_per_turn']}, cached {s['cached_tokens_per_turn']}")
    assert s["errors"] == 0 and s["cached_tokens_per_turn"][1] >= s["isl_per_turn"][0] - 8
    assert s["cached_fraction"] > 0.5 and s["prefix_speedup_x"] > 1.5


def test_killed_bench_keeps_every_completed_sample(lane, tmp_path):
    db = tmp_path / "killed.sqlite"
    before = predicted_total(lane)
    proc = subprocess.Popen([sys.executable, "-m", "lanekit.cli.main", "bench", "--lane", lane.spec.name, "--scenario",
                             "single", "--samples", "200", "--max-tokens", "16", "--warmup", "1", "--db", str(db)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        seen = 0
        while seen < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if db.exists():
                try:
                    with sqlite3.connect(db) as conn:
                        seen = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
                except sqlite3.OperationalError:
                    seen = 0  # schema not created yet
        assert seen >= 3, proc.stderr.read().decode() if proc.poll() is not None else "no samples in time"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    time.sleep(1.0)  # let the server finish accounting the request the dead client abandoned
    completed_on_server = int((predicted_total(lane) - before) // 16) - 1  # minus the warm-up
    with sqlite3.connect(db) as conn:
        rows = [json.loads(r[0]) for r in conn.execute("SELECT data FROM samples ORDER BY id")]
        status = conn.execute("SELECT status FROM runs").fetchone()[0]
    print(f"\nkilled after {len(rows)} stored samples; server finished {completed_on_server} measured requests")
    assert len(rows) >= seen >= 3
    # every request the server finished reached the store, except at most the one in flight at the kill
    assert completed_on_server - 1 <= len(rows) <= completed_on_server + 1
    assert all(r["osl"] == 16 and r["error"] is None for r in rows)
    assert status == "running"  # never finished: `lanekit runs` shows it as interrupted
    runs = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "runs", "--json", "--db", str(db)],
                          capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(runs.stdout)["runs"][0]["status"] == "interrupted"
