"""The SQLite results store: committed-on-write samples, summaries, lane steps, run listing."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

import pytest

from lanekit.errors import ConfigError
from lanekit.report.store import SCHEMA_VERSION, Store


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "results.sqlite") as s:
        yield s


def test_run_ids_are_sortable_timestamps_with_a_random_suffix(store):
    run_id = store.new_run("bench", {"lane": "a"})
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", run_id)
    run = store.get_run(run_id)
    assert run["kind"] == "bench" and run["status"] == "running" and run["meta"] == {"lane": "a"}


def test_a_sample_is_visible_to_another_connection_as_soon_as_it_is_added(store):
    run_id = store.new_run("bench", {})
    store.add_sample(run_id, "lane-a", "single", {"decode_tok_s": 12.5, "ttft_ns": 5})
    other = sqlite3.connect(store.path)
    assert other.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 1
    other.close()
    [sample] = store.samples(run_id)
    assert sample["lane"] == "lane-a" and sample["scenario"] == "single" and sample["data"]["ttft_ns"] == 5


def test_samples_survive_a_writer_killed_without_closing(tmp_path):
    path = tmp_path / "r.sqlite"
    code = (f"import os, signal; from lanekit.report.store import Store; s = Store({str(path)!r}); "
            "r = s.new_run('bench', {}); [s.add_sample(r, 'l', 'single', {'i': i}) for i in range(3)]; "
            "print(r, flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == -9
    run_id = out.stdout.strip()
    with Store(path) as s:
        assert [x["data"]["i"] for x in s.samples(run_id)] == [0, 1, 2]
        assert s.get_run(run_id)["status"] == "interrupted"  # still "running", owner gone


def test_samples_filter_by_lane_and_scenario_in_write_order(store):
    run_id = store.new_run("bakeoff", {})
    for lane, scen, i in [("a", "single", 0), ("b", "single", 1), ("a", "sweep", 2), ("a", "single", 3)]:
        store.add_sample(run_id, lane, scen, {"i": i})
    assert [s["data"]["i"] for s in store.samples(run_id, lane="a", scenario="single")] == [0, 3]
    assert [s["data"]["i"] for s in store.samples(run_id, scenario="single")] == [0, 1, 3]
    store.add_samples(run_id, "a", "sustained", [{"kind": "scrape", "t": 1}, {"kind": "scrape", "t": 2}])
    assert len(store.samples(run_id, lane="a")) == 5


def test_summary_is_replaced_not_duplicated(store):
    run_id = store.new_run("bench", {})
    store.set_summary(run_id, "a", "single", {"decode_tok_s": 1.0})
    store.set_summary(run_id, "b", "single", {"decode_tok_s": 3.0})
    store.set_summary(run_id, "a", "single", {"decode_tok_s": 2.0})
    rows = store.summaries(run_id)
    assert [(r["lane"], r["summary"]["decode_tok_s"]) for r in rows] == [("a", 2.0), ("b", 3.0)]


def test_bare_url_runs_have_no_lane(store):
    run_id = store.new_run("bench", {})
    store.add_sample(run_id, None, "single", {"x": 1})
    store.set_summary(run_id, None, "single", {"x": 1})
    assert store.samples(run_id)[0]["lane"] is None and store.summaries(run_id)[0]["lane"] is None


def test_lane_steps_update_in_place_and_keep_first_seen_order(store):
    run_id = store.new_run("bakeoff", {})
    store.set_lane_step(run_id, "a", "fit", "running", {})
    store.set_lane_step(run_id, "a", "fit", "ok", {"total_bytes": 5})
    store.set_lane_step(run_id, "a", "up", "running", {})
    store.set_lane_step(run_id, "b", "fit", "failed", {"why": "too big"})
    steps = store.lane_steps(run_id)
    assert [(s["lane"], s["step"], s["status"]) for s in steps] == [("a", "fit", "ok"), ("a", "up", "running"),
                                                                     ("b", "fit", "failed")]
    assert steps[0]["detail"] == {"total_bytes": 5}
    assert [s["step"] for s in store.lane_steps(run_id, lane="b")] == ["fit"]


def test_list_runs_newest_first_with_counts_lanes_and_status(store):
    first = store.new_run("bench", {"n": 1})
    second = store.new_run("bakeoff", {"n": 2})
    store.add_sample(second, "x", "single", {})
    store.add_sample(second, "y", "single", {})
    store.finish_run(first, "done")
    runs = store.list_runs()
    assert [r["run_id"] for r in runs[:2]] == [second, first]
    by_id = {r["run_id"]: r for r in runs}
    assert by_id[first]["status"] == "done" and by_id[first]["finished_at"] is not None
    assert by_id[second]["status"] == "running" and by_id[second]["n_samples"] == 2
    assert by_id[second]["lanes"] == ["x", "y"]


def test_get_run_accepts_latest_and_unique_prefixes(store):
    run_id = store.new_run("bench", {})
    assert store.get_run("latest")["run_id"] == run_id
    assert store.get_run(run_id[:17])["run_id"] == run_id
    with pytest.raises(ConfigError, match="no run"):
        store.get_run("19990101-000000-zzzz")


def test_ambiguous_prefix_is_a_config_error(store):
    a, b = store.new_run("bench", {}), store.new_run("bench", {})
    common = next(i for i in range(len(a)) if a[i] != b[i])
    if common <= 9:
        pytest.skip("ids differ too early for a shared prefix")
    with pytest.raises(ConfigError, match="ambiguous"):
        store.get_run(a[:common])


def test_set_run_meta_merges_keys(store):
    run_id = store.new_run("bakeoff", {"plan_digest": "abc", "agent": "builtin"})
    store.set_run_meta(run_id, {"verdict": "qwen wins", "agent": "hermes"})
    assert store.get_run(run_id)["meta"] == {"plan_digest": "abc", "agent": "hermes", "verdict": "qwen wins"}


def test_schema_version_is_recorded(store):
    assert store._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_default_path_is_under_lanekit_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LANEKIT_HOME", str(tmp_path / "home"))
    with Store() as s:
        assert s.path == tmp_path / "home" / "results.sqlite"


def test_sample_counts_leave_out_the_side_series(store):
    run_id = store.new_run("bench", {})
    store.add_sample(run_id, "a", "sustained", {"kind": "request"})
    store.add_samples(run_id, "a", "sustained", [{"kind": "scrape"}, {"kind": "telemetry"}])
    assert store.get_run(run_id)["n_samples"] == 1 and store.list_runs()[0]["n_samples"] == 1
    assert len(store.samples(run_id)) == 3
