"""Scenarios against a mock engine (httpx.MockTransport): summaries, stored samples, flags, prompts."""

from __future__ import annotations

import json

import pytest
from load_fakes import FakeClock, llm_transport

from lanekit.load.prompts import single_prompt
from lanekit.load.scenarios import run_depth, run_prefix, run_single, run_sustained, run_sweep
from lanekit.report.store import Store, StoreSink

URL = "http://fake/v1"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "r.sqlite") as s:
        yield s


def test_single_reports_median_decode_ttft_server_rate_and_prompt_hash(store):
    seen: list = []
    clock = FakeClock()
    sink = StoreSink(store, store.new_run("bench", {}), "lane-a")
    res = run_single(URL, "m", samples=3, max_tokens=16, warmup=2, sink=sink,
                     transport=llm_transport(decode_tok_s=50.0, clock=clock, seen=seen), clock=clock)
    s = res.summary
    assert len(seen) == 5                                   # 2 warm-ups + 3 samples
    assert s["samples"] == 3 and len(res.samples) == 3 and s["errors"] == 0
    assert s["decode_tok_s"] == pytest.approx(50.0, rel=0.01)  # E2E includes the 1 ms usage-chunk tail
    assert s["server_decode_tok_s"] == 50.0 and s["server_agreement_pct"] == pytest.approx(0.0, abs=1.0)
    assert s["ttfr_ms"] == pytest.approx(20.0) and s["ttft_ms"] == pytest.approx(40.0)  # role chunk, then a token
    assert s["prompt_sha256"] == single_prompt()[2] and s["max_tokens"] == 16
    assert seen[-1]["messages"] == single_prompt()[0]
    # handed to the sink as measured; the run belongs to the caller
    stored = store.samples(res.run_id)
    assert res.run_id == sink.run_id and res.lane == "lane-a"
    assert len(stored) == 3 and stored[0]["lane"] == "lane-a" and stored[0]["data"]["kind"] == "request"
    assert store.summaries(res.run_id)[0]["summary"]["decode_tok_s"] == s["decode_tok_s"]


def test_stable_json_object_carries_identity_and_the_single_keys():
    res = run_single(URL, "m", samples=2, max_tokens=8, transport=llm_transport())
    obj = res.to_json_object()
    for key in ("schema_version", "scenario", "run_id", "lane", "base_url", "model", "decode_tok_s", "ttft_ms",
                "samples", "server_decode_tok_s"):
        assert key in obj
    assert obj["scenario"] == "single" and obj["samples"] == 2 and json.dumps(obj)


def test_short_outputs_are_counted_and_never_averaged_in():
    res = run_single(URL, "m", samples=4, max_tokens=64, warmup=0, transport=llm_transport(short_every=2))
    s = res.summary
    assert s["requests"] == 4 and s["samples"] == 2 and s["short_outputs"] == 2
    assert s["osl"] == 64 and any("shorter" in w for w in s["warnings"])


def test_failed_requests_are_data_counted_with_their_error():
    res = run_single(URL, "m", samples=3, max_tokens=8, warmup=0, transport=llm_transport(fail_every=3))
    assert res.summary["errors"] == 1 and "HTTP 500" in res.summary["first_error"]
    assert res.summary["samples"] == 2 and len(res.samples) == 3


def test_given_run_id_is_used_and_left_open_for_the_caller(store):
    run_id = store.new_run("bakeoff", {})
    res = run_single(URL, "m", samples=1, max_tokens=8, sink=StoreSink(store, run_id, "x"),
                     transport=llm_transport())
    assert res.run_id == run_id and store.get_run(run_id)["status"] == "running"


def test_progress_is_reported_and_a_broken_callback_is_ignored():
    calls: list = []
    run_single(URL, "m", samples=2, max_tokens=8, transport=llm_transport(),
               progress=lambda d, t, label: calls.append((d, t, label)))
    assert calls[-1][:2] == (2, 2)

    def broken(*a):
        raise RuntimeError("ui bug")

    assert run_single(URL, "m", samples=1, max_tokens=8, transport=llm_transport(), progress=broken).summary["samples"]


def test_roofline_column_uses_the_given_ceiling():
    clock = FakeClock()
    res = run_single(URL, "m", samples=2, max_tokens=8, transport=llm_transport(decode_tok_s=50.0, clock=clock),
                     clock=clock, ceiling_tok_s=40.0)
    roof = res.summary["roofline"]
    assert roof["pct_of_ceiling"] == pytest.approx(125.0, rel=0.01) and roof["warning"]
    assert roof["warning"] in res.summary["warnings"]


def test_sweep_reports_per_level_per_request_and_aggregate_rates(store):
    res = run_sweep(URL, "m", concurrency=(1, 2, 4), max_tokens=8, sink=StoreSink(store, store.new_run("b", {}), None),
                    transport=llm_transport())
    s = res.summary
    assert [lvl["concurrency"] for lvl in s["levels"]] == [1, 2, 4]
    assert [lvl["requests"] for lvl in s["levels"]] == [4, 4, 8]   # default max(4, 2N)
    for lvl in s["levels"]:
        assert lvl["aggregate_tok_s"] > 0 and lvl["per_request_tok_s"] > 0 and lvl["ttft_ms_p99"] >= lvl["ttft_ms_p50"]
        assert lvl["server"] is None
    assert s["peak_concurrency"] in (1, 2, 4) and s["samples"] == 16
    assert sorted({x["data"]["concurrency"] for x in store.samples(res.run_id)}) == [1, 2, 4]


def test_sustained_with_fake_clock_gives_interval_series_and_drift():
    clock = FakeClock()
    # 100 tok/s, 20 tokens per request → ~0.21 s per request on the fake clock
    res = run_sustained(URL, "m", duration_s=2.0, interval_s=0.5, max_tokens=20, warmup=0, telemetry=False,
                        transport=llm_transport(decode_tok_s=100.0, clock=clock), clock=clock)
    s = res.summary
    assert s["requests"] >= 8 and len(s["intervals"]) == 4
    assert all(x["tok_s"] == pytest.approx(100.0, rel=0.15) for x in s["intervals"])
    assert abs(s["drift_pct"]) < 15
    assert s["wall_tok_s"] == pytest.approx(s["in_flight_tok_s"], rel=0.01)  # flat out: no idle time
    assert s["busy_fraction"] == pytest.approx(1.0, abs=0.01) and s["server"] is None and s["telemetry"] is None


def test_prefix_compares_warm_turns_with_a_cold_control_at_the_same_length(store):
    seen_systems: set[str] = set()

    def cached(body):
        system = body["messages"][0]["content"]
        hit = system in seen_systems
        seen_systems.add(system)
        return 300 if hit else 0

    def delay(body):  # a cache miss costs prefill time
        return 0.0 if body["messages"][0]["content"] in seen_systems else 0.03

    res = run_prefix(URL, "m", turns=4, max_tokens=4, sink=StoreSink(store, store.new_run("b", {}), None),
                     transport=llm_transport(cached=cached, prefill_delay_s=delay,
                                             prompt_tokens=lambda b: len(json.dumps(b["messages"])) // 4))
    s = res.summary
    assert s["requests"] == 8 and s["errors"] == 0
    assert s["cached_tokens_per_turn"][0] == 0 and all(c == 300 for c in s["cached_tokens_per_turn"][1:])
    assert s["prefix_speedup_x"] > 2 and s["ttft_ms_cold"] > s["ttft_ms_warm"]
    assert s["isl_per_turn"] == sorted(s["isl_per_turn"])          # the conversation grows
    phases = [x["data"]["phase"] for x in store.samples(res.run_id)]
    assert phases == ["warm"] * 4 + ["cold"] * 4


def test_prefix_can_send_tools_through_the_api():
    seen: list = []
    run_prefix(URL, "m", turns=2, max_tokens=2, tools_in="api", cold_control=False, transport=llm_transport(seen=seen))
    assert len(seen) == 2 and seen[0]["tools"][0]["type"] == "function"
    assert "Tools (call them" not in seen[0]["messages"][0]["content"]


def test_depth_calibrates_prompt_length_and_skips_depths_beyond_the_context():
    def prompt_tokens(body):
        return int(len(body["messages"][0]["content"].split()) * 1.25) + 12

    res = run_depth(URL, "m", depths=(512, 1024, 4096), max_tokens=8,
                    transport=llm_transport(prompt_tokens=prompt_tokens, props={"default_generation_settings":
                                                                                {"n_ctx": 2048}}))
    s = res.summary
    assert s["ctx"] == 2048 and s["skipped_depths"] == [4096]
    assert s["calibration"]["tokens_per_word"] == pytest.approx(1.25, rel=0.02)
    for row in s["depths"]:
        assert row["isl"] == pytest.approx(row["depth"], rel=0.03)
        assert row["prefill_tok_s"] > 0 and row["decode_tok_s"] > 0 and row["server_prefill_tok_s"] == 500.0
    assert any("skipped" in w for w in s["warnings"])


IDENTITY = {"schema_version", "scenario", "run_id", "lane", "base_url", "model", "started_at", "duration_s", "warnings"}
PINNED = {
    "single": {"decode_tok_s", "decode_tok_s_p10", "decode_tok_s_p90", "ttft_ms", "ttft_ms_p90", "ttft_ms_p99",
               "ttfr_ms", "ttfo_ms", "itl_ms", "e2e_ms", "prefill_tok_s", "osl", "isl", "samples", "requests",
               "errors", "first_error", "short_outputs", "usage_mismatches", "server_decode_tok_s",
               "server_agreement_pct", "max_tokens", "warmup", "prompt_version", "prompt_sha256", "roofline"},
    "sustained": {"decode_tok_s", "ttft_ms", "samples", "server_decode_tok_s", "interval_s", "concurrency", "gap_s",
                  "intervals", "interval_tok_s", "drift_pct", "wall_tok_s", "in_flight_tok_s", "busy_fraction",
                  "server", "telemetry", "roofline"},
    "sweep": {"levels", "peak_aggregate_tok_s", "peak_concurrency", "scaling_x", "requests", "samples", "errors",
              "short_outputs", "roofline"},
    "prefix": {"turns", "ttft_ms_first_turn", "ttft_ms_warm", "ttft_ms_cold", "prefix_speedup_x", "isl_per_turn",
               "ttft_ms_per_turn_warm", "ttft_ms_per_turn_cold", "cached_tokens_per_turn", "cached_fraction",
               "decode_tok_s", "server_warm", "server_cold"},
    "depth": {"depths", "skipped_depths", "ctx", "calibration"},
}
LEVEL_KEYS = {"concurrency", "requests", "samples", "errors", "short_outputs", "per_request_tok_s",
              "per_request_tok_s_p10", "aggregate_tok_s", "ttft_ms_p50", "ttft_ms_p99", "itl_ms_p50", "e2e_ms_p50",
              "pct_of_ceiling", "server"}
DEPTH_KEYS = {"depth", "isl", "ttft_ms", "prefill_tok_s", "decode_tok_s", "itl_ms", "server_prefill_tok_s",
              "server_decode_tok_s", "samples", "errors"}


def test_stable_json_keys_are_pinned_for_every_scenario():
    """The documented `lanekit bench --json` contract (ScenarioResult docstring): keys may be added, never lost."""
    clock = FakeClock()
    t = llm_transport(clock=clock)
    objs = {
        "single": run_single(URL, "m", samples=1, max_tokens=4, transport=t, clock=clock),
        "sustained": run_sustained(URL, "m", duration_s=0.5, interval_s=0.25, max_tokens=4, transport=t, clock=clock),
        "sweep": run_sweep(URL, "m", concurrency=(1, 2), requests_per_level=2, max_tokens=4, transport=t),
        "prefix": run_prefix(URL, "m", turns=2, max_tokens=2, transport=t),
        "depth": run_depth(URL, "m", depths=(128,), max_tokens=4, transport=t),
    }
    for name, res in objs.items():
        obj = res.to_json_object()
        missing = (IDENTITY | PINNED[name]) - set(obj)
        assert not missing, (name, missing)
        assert obj["scenario"] == name and json.dumps(obj)
    assert LEVEL_KEYS <= set(objs["sweep"].summary["levels"][0])
    assert DEPTH_KEYS <= set(objs["depth"].summary["depths"][0])
    assert {"t_s", "tok_s"} <= set(objs["sustained"].summary["intervals"][0])


def test_sweep_timing_on_a_fake_clock_is_exact():
    # one fake engine that does not batch: two concurrent streams share its 100 tok/s
    clock = FakeClock()
    res = run_sweep(URL, "m", concurrency=(1, 2), requests_per_level=4, max_tokens=16, warmup=0,
                    transport=llm_transport(decode_tok_s=100.0, clock=clock), clock=clock)
    one, two = res.summary["levels"]
    assert one["per_request_tok_s"] == pytest.approx(100.0, rel=0.02)
    assert one["aggregate_tok_s"] == pytest.approx(100.0 * 16 / (16 + 2.1), rel=0.05)  # TTFT and tail count
    assert two["per_request_tok_s"] == pytest.approx(50.0, rel=0.05)
    assert two["aggregate_tok_s"] == pytest.approx(one["aggregate_tok_s"], rel=0.1)
    assert res.summary["scaling_x"] == pytest.approx(1.0, abs=0.1)


def test_a_locked_store_never_stalls_the_timed_stream(tmp_path):
    import subprocess
    import sys
    import time

    db = tmp_path / "r.sqlite"
    store = Store(db)
    run_id = store.new_run("bench", {})
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(2); c.execute('COMMIT')"), str(db)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    t0 = time.monotonic()
    res = run_single(URL, "m", samples=5, max_tokens=8, warmup=0, sink=StoreSink(store, run_id, "l"),
                     transport=llm_transport())
    holder.wait()
    starts = [s["started_at"] for s in res.samples]
    assert max(starts) - min(starts) < 0.5  # the five requests went out back to back, lock or no lock
    assert time.monotonic() - t0 >= 1.0     # ...while the summary (after them) waited for the disk
    assert len(store.samples(run_id, "l", "single")) == 5
    store.close()


def test_single_warns_when_client_and_engine_clocks_disagree_and_when_ttft_was_a_cache_hit():
    from load_fakes import FakeClock

    # the fake engine claims 100 tok/s in its timings but streams instantly (no fake clock)
    fast = run_single(URL, "m", samples=2, max_tokens=16, transport=llm_transport(decode_tok_s=100.0))
    assert any("differ by" in w and "clocks" in w for w in fast.summary["warnings"])
    clock = FakeClock()
    cached = run_single(URL, "m", samples=2, max_tokens=16, clock=clock,
                        transport=llm_transport(decode_tok_s=100.0, clock=clock, prompt_tokens=lambda b: 80,
                                                cached=lambda b: 79))
    s = cached.summary
    assert not any("differ by" in w for w in s["warnings"])  # on one clock they agree
    assert s["prompt_evaluated"] == 1 and s["cached_tokens"] == 79
    assert any("evaluated 1 of 80 prompt tokens" in w for w in s["warnings"])
    # prefill over the evaluated token, not over the 79 cached ones
    assert s["evaluated_prefill_tok_s"] < s["prefill_tok_s"] / 50
