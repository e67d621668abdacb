"""Calibration and footprint against the real llama-server (and llama-bench) on tiny real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanekit.catalog.models import shape_from_gguf
from lanekit.lanes import serve_lane
from lanekit.lanes.footprint import compare, footprint_row, lane_footprint
from lanekit.lanes.spec import parse_lane
from lanekit.synth.measure import bench_decode, find_llama_bench, server_decode
from lanekit.synth.probes import LLAMA_TINY, Probe, write_probe


@pytest.fixture(scope="module")
def tiny_probe(tmp_path_factory, smollm2_path: Path) -> Path:
    probe = Probe(name="it-t512-q8", shape=LLAMA_TINY, quant="Q8_0", layers=2)
    return write_probe(probe, tmp_path_factory.mktemp("probe"), smollm2_path)


def test_server_decode_times_generation_at_each_depth(tiny_probe: Path, llama_server: str) -> None:
    got = server_decode(llama_server, tiny_probe, depths=(0, 256), n_gen=16, samples=2, threads=2)
    assert [s.depth for s in got] == [0, 256] and all(s.path == "server" and s.tok_s > 0 for s in got)
    assert got[0].context_tokens == 8 and got[1].mean_depth == 256 + 8


def test_llama_bench_decode_reads_its_json(tiny_probe: Path, llama_server: str) -> None:
    bench = find_llama_bench(llama_server)
    if bench is None:
        pytest.skip("llama-bench is not next to llama-server")
    got = bench_decode(bench, tiny_probe, depths=(0, 128), n_gen=16, reps=2, threads=2)
    assert [s.depth for s in got] == [0, 128] and all(s.tok_s > 0 and s.samples == 2 for s in got)


def test_footprint_of_a_real_lane_reports_the_kv_cells_it_was_sized_for(smollm2_path: Path,
                                                                       llama_server: str) -> None:
    spec = parse_lane({"name": "footprint-it", "engine": "llamacpp", "model": str(smollm2_path), "ctx": 1024,
                       "parallel": 2, "threads": 1, "binary": llama_server})
    with serve_lane(spec) as lane:
        fp = lane_footprint(lane)
        est = lane.estimate
        row = footprint_row(lane)
    assert row is not None and row["vs_estimate"]["kv_tokens_actual"] == 2048
    assert fp is not None and lane.record.pid in fp.pids
    assert fp.slots == 2 and fp.n_ctx_per_slot == 1024 and fp.kv_tokens == 2048 == est.kv_tokens
    weights = shape_from_gguf(smollm2_path).weights_bytes
    assert fp.rss_bytes > weights // 2  # the mmapped weights it touched, the KV and the runtime
    row = compare(est, fp, unified=True)
    assert row["kv_tokens_estimate"] == row["kv_tokens_actual"] and row["ratio"] > 0
