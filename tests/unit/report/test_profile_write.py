"""The profile folder: rendered whole beside the old one and swapped in — no stale files, the old
profile intact after a failed render, and never a directory that is not a profile."""

from __future__ import annotations

import json

import pytest
from sample_run import store_run

import lanekit.report.render.html as html_mod
from lanekit.errors import ConfigError
from lanekit.report.profile import build_report, write_profile
from lanekit.report.store import Store


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "r.sqlite") as s:
        yield s


def test_a_re_render_replaces_the_folder_whole(store, tmp_path):
    run = store_run(store)
    out = write_profile(store, run, tmp_path / "prof")
    expected = {"report.html", "README.md", "manifest.json", "lanes.yaml", "launch", "hermes", "llama-swap",
                "plots", "raw"}
    assert expected <= {p.name for p in out.iterdir()}
    (out / "launch" / "gone-lane.sh").write_text("stale")
    (out / "plots" / "tok_s.png").write_bytes(b"stale")
    write_profile(store, run, out)
    assert not (out / "launch" / "gone-lane.sh").exists() and not (out / "plots" / "tok_s.png").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".prof")] == []  # no temp dir left
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["report_html"] == "report.html" and manifest["llama_swap"] == "llama-swap/config.yaml"
    assert (out / "raw" / "run.csv").read_text().startswith("record,run_id,lane,scenario")


def test_a_failed_render_leaves_the_previous_profile_as_it_was(store, tmp_path, monkeypatch):
    run = store_run(store)
    out = write_profile(store, run, tmp_path / "prof")
    before = (out / "manifest.json").read_text()

    def broken(*a, **k):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(html_mod, "render_html", broken)
    with pytest.raises(RuntimeError):
        write_profile(store, run, out)
    assert (out / "manifest.json").read_text() == before and (out / "report.html").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".prof")] == []


def test_a_directory_that_is_not_a_profile_is_never_replaced(store, tmp_path):
    run = store_run(store)
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a lanekit profile"):
        write_profile(store, run, home)
    assert (home / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        write_profile(store, run, tmp_path / "file")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (write_profile(store, run, empty) / "manifest.json").is_file()


def test_the_report_compares_with_the_previous_run_of_the_plan(store, tmp_path):
    first = store_run(store, created_offset_s=-60)
    second = store_run(store, scale=1.2, engine_version="version: 2 (def)")
    store_run(store, plan_name="another-plan", created_offset_s=-30)
    manifest = json.loads((write_profile(store, second, tmp_path / "p") / "manifest.json").read_text())
    assert [r["run_id"] for r in manifest["comparison"]["runs"]] == [first, second]
    html = (tmp_path / "p" / "report.html").read_text()
    assert 'id="compare"' in html and "version: 2 (def)" in html
    manifest = json.loads((write_profile(store, second, tmp_path / "p", compare_with=[]) / "manifest.json").read_text())
    assert manifest["comparison"] is None


def test_only_bakeoff_runs_with_lane_results_make_a_profile(store):
    run = store.new_run("eval", {"agent": "builtin"})
    store.finish_run(run, "finished")
    with pytest.raises(ConfigError, match="is an eval run, not a bakeoff"):
        build_report(store, run)
    empty = store.new_run("bakeoff", {"plan": {"name": "p"}})
    with pytest.raises(ConfigError, match="holds no lane results"):
        build_report(store, empty)


def test_an_unreadable_previous_run_does_not_stop_the_profile(store, tmp_path):
    old = store.new_run("bakeoff", {"plan": {"name": "sample-plan"}})
    store.set_summary(old, "x", "lane", {"name": "x"})  # an older lanekit's untyped lane result
    store.finish_run(old, "finished")
    store._exec("UPDATE runs SET created_at = created_at - 60 WHERE run_id = ?", (old,))
    run = store_run(store)
    manifest = json.loads((write_profile(store, run, tmp_path / "p") / "manifest.json").read_text())
    assert manifest["comparison"] is None
    with pytest.raises(ConfigError, match="older lanekit"):
        write_profile(store, run, tmp_path / "p", compare_with=[old])
