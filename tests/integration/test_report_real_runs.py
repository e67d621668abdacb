"""The profile, report.html, `lanekit compare`, the CSV export and the llama-swap config from two
real bakeoffs of the same plan: two SmolLM2 lanes on the real llama-server, benched and put
through the built-in agent battery, the second run with one lane's flags changed.

What a user does, through the CLI: `lanekit bakeoff` (its last table must fit 80 columns),
`lanekit profile` (re-rendered into the same folder, stale files gone), report.html opened in a
real headless Chromium, `lanekit compare A B` (table and --json), `lanekit show RUN --csv`, and
the llama-swap entry's command started as llama-swap would start it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from lanekit.report.store import Store

SMOL = {"engine": "llamacpp", "model": "smollm2-135m", "ctx": 2048, "threads": 1, "max_output_tokens": 256}
# SmolLM2 cannot call tools: thresholds opened wide so both lanes are ranked (and the ranking is
# then read for noise, the Hermes and llama-swap configs are written for the winner).
OPEN_RANKING = {"require_doctor_pass": False, "max_format_error_rate": 1.0, "min_clean_run_rate": 0.0}
CHANGED_FLAGS = ["--batch-size", "256"]


def _plan(path: Path, *, second: bool) -> Path:
    lanes = [dict(SMOL, name="smol-p1", parallel=1),
             dict(SMOL, name="smol-p2", parallel=2, **({"extra_args": CHANGED_FLAGS} if second else {}))]
    plan = {"name": "it-report", "lanes": lanes, "ranking": OPEN_RANKING,
            "bench": {"single": {"samples": 3, "max_tokens": 32, "warmup": 1},
                      "sustained": {"duration_s": 3, "interval_s": 1, "max_tokens": 32},
                      "sweep": {"concurrency": [1, 2], "max_tokens": 24}},
            "eval": {"agent": "builtin", "repeats": 1, "max_turns": 2, "task_timeout_s": 60, "max_tokens": 96}}
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def _cli(home: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "LANEKIT_HOME": str(home), "COLUMNS": "80", "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "lanekit.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


@pytest.fixture(scope="module")
def runs(llama_server, tmp_path_factory):
    """Two finished bakeoffs in one LANEKIT_HOME: (home, [run ids], stdout of the second)."""
    root = tmp_path_factory.mktemp("report-runs")
    home, ids, out = root / "home", [], ""
    for second in (False, True):
        plan = _plan(root / f"plan-{int(second)}.yaml", second=second)
        proc = _cli(home, "bakeoff", str(plan), "--out", str(root / f"bakeoff-{int(second)}"), "--fresh")
        assert proc.returncode == 0, proc.stderr[-3000:]
        with Store(home / "results.sqlite") as store:
            ids.append(store.list_runs()[0]["run_id"])
        out = proc.stdout
    assert ids[0] != ids[1]
    return home, ids, out


def test_the_bakeoff_ends_on_a_ranking_table_that_fits_80_columns(runs):
    _, _, stdout = runs
    lines = stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, "\n".join(x for x in lines if len(x) > 80)
    assert "smol-p1" in stdout and "smol-p2" in stdout
    assert "|---" not in stdout  # a rich table, not the README's raw markdown


@pytest.fixture(scope="module")
def profile(runs):
    """`lanekit profile` of the second run, rendered twice into one folder (a stale file between)."""
    home, ids, _ = runs
    out = home.parent / "profile"
    first = _cli(home, "profile", ids[1], "--out", str(out), "--json")
    assert first.returncode == 0, first.stderr
    (out / "launch" / "stale-lane.sh").write_text("#!/bin/sh\n")
    again = _cli(home, "profile", ids[1], "--out", str(out), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["report_html"] == str(out / "report.html")
    return out, json.loads((out / "manifest.json").read_text())


def test_the_profile_is_replaced_whole_and_compares_with_the_previous_run(profile, runs):
    out, manifest = profile
    _, ids, _ = runs
    assert not (out / "launch" / "stale-lane.sh").exists()
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".profile.")]  # no temp dir left
    # SmolLM2 may be cut off at the battery's output cap, a gate no threshold opens: then nothing is
    # recommended, which the profile must still render
    assert manifest["run_id"] == ids[1] and manifest["recommended"] in ("smol-p1", "smol-p2", None)
    assert [r["run_id"] for r in manifest["comparison"]["runs"]] == ids  # the previous run of the plan
    assert {f["id"] for f in manifest["figures"]} >= {"speed", "sweep", "sustained"}
    assert (out / "hermes" / ("config.yaml" if manifest["recommended"] else "README.md")).is_file()
    assert (out / "llama-swap" / "config.yaml").is_file()


def test_report_html_of_a_real_run_in_headless_chromium(profile, tmp_path):
    from report_page import assert_clean_offline_load, assert_numbers_match, assert_plots_render, opened

    out, manifest = profile
    with opened(out / "report.html", tmp_path / "chromium") as (pg, events):
        assert_clean_offline_load(events)
        assert_plots_render(pg, manifest)
        replayed = any((x["bench"].get("replay") or {}).get("turn_s") for x in manifest["lanes"])
        assert replayed  # the default workload: the shipped trace replayed (s per turn, prefix reuse)
        assert_numbers_match(pg, manifest, metrics_per_lane=9)
        compare = pg.inner_text("#compare")
        assert manifest["comparison"]["runs"][0]["run_id"] in compare and "--batch-size" in compare
        hrefs = pg.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    hermes = "hermes/config.yaml" if manifest["recommended"] else "hermes/README.md"
    for target in ("launch/smol-p1.sh", "launch/smol-p2.sh", hermes, "llama-swap/config.yaml",
                   "manifest.json", "raw/run.csv"):
        assert target in hrefs and (out / target).is_file(), target


def test_compare_names_the_changed_flags_and_judges_only_with_bounds(runs):
    home, ids, _ = runs
    proc = _cli(home, "compare", ids[0], ids[1], "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema_version"] == 1 and [r["run_id"] for r in doc["runs"]] == ids
    lanes = {x["lane"]: x for x in doc["lanes"]}
    assert set(lanes) == {"smol-p1", "smol-p2"}
    assert lanes["smol-p1"]["changes"] == []  # the same lane, run the same way
    assert any("--batch-size" in c and "256" in c for c in lanes["smol-p2"]["changes"]), lanes["smol-p2"]["changes"]
    for lane in lanes.values():
        metrics = {m["metric"]: m for m in lane["metrics"]}
        assert {"decode tok/s", "TTFT", "format-error rate", "clean-run rate"} <= set(metrics)
        for m in metrics.values():
            a, b = m["cells"][0], m["cells"][-1]
            if a is None or b is None or a["point"] is None or b["point"] is None:
                continue
            assert m["delta"] == pytest.approx(b["point"] - a["point"])
            bounded = all(c["low"] is not None and c["high"] is not None for c in (a, b))
            if not bounded:
                assert m["verdict"] == "no interval", m
            elif a["low"] <= b["high"] and b["low"] <= a["high"]:
                assert m["verdict"] == "within noise", m
            else:
                assert m["verdict"] == ("better" if (b["point"] > a["point"]) == m["larger_is_better"] else "worse")
    on_spread = [f"{x['lane']} {m['metric']}" for x in doc["lanes"] for m in x["metrics"]
                 if m["verdict"] in ("better", "worse") and any(c and c["bounds"] == "spread" for c in m["cells"])]
    spread_notes = [n for n in doc["notes"] if n.startswith("judged on p10–p90 spreads")]
    assert len(spread_notes) == (1 if on_spread else 0) and all(x in spread_notes[0] for x in on_spread)
    table = _cli(home, "compare", ids[0], ids[1])
    assert table.returncode == 0, table.stderr
    assert max(len(line) for line in table.stdout.splitlines()) <= 80, table.stdout
    assert "smol-p2" in table.stdout and "--batch-size" in table.stdout
    assert _cli(home, "compare", ids[0]).returncode == 2


def test_show_csv_holds_every_sample_and_summary_of_the_run(runs):
    home, ids, _ = runs
    proc = _cli(home, "show", ids[1], "--csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    with Store(home / "results.sqlite") as store:
        samples, summaries = store.samples(ids[1]), store.summaries(ids[1])
    assert sum(r["record"] == "sample" for r in rows) == len(samples) > 0
    assert sum(r["record"] == "summary" for r in rows) == len(summaries) > 0
    single = {(s["lane"]): s["summary"] for s in summaries if s["scenario"] == "single"}
    got = {r["lane"]: float(r["decode_tok_s"]) for r in rows if r["record"] == "summary" and r["scenario"] == "single"}
    assert got == pytest.approx({lane: s["decode_tok_s"] for lane, s in single.items()})


def test_an_eval_run_is_refused_by_profile_in_one_line(runs, tmp_path):
    home, _, _ = runs
    with Store(home / "results.sqlite") as store:
        run = store.new_run("eval", {"agent": "builtin"})
    proc = _cli(home, "profile", run, "--out", str(tmp_path / "p"))
    assert proc.returncode == 2 and "not a bakeoff" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "p").exists()


def test_the_llama_swap_entry_starts_the_lane_as_llama_swap_would(profile):
    """llama-swap substitutes ${PORT} and runs `cmd` (comment lines dropped) as shell words, then
    polls proxy + checkEndpoint; the model it serves is the one `useModelName` asks for."""
    out, manifest = profile
    doc = yaml.safe_load((out / "llama-swap" / "config.yaml").read_text())
    name = manifest["recommended"] or next(iter(doc["models"]))
    entry = doc["models"][name]
    assert next(iter(doc["models"])) == name  # rank order
    port = 18947
    text = "\n".join(line for line in entry["cmd"].splitlines() if not line.strip().startswith("#"))
    argv = shlex.split(text.replace("${PORT}", str(port)))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = entry["proxy"].replace("${PORT}", str(port))
    try:
        deadline, ok = time.monotonic() + 120, False
        while not ok and time.monotonic() < deadline and proc.poll() is None:
            try:
                ok = httpx.get(base + entry["checkEndpoint"], timeout=2).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.3)
        assert ok, f"the llama-swap command did not serve (exit {proc.poll()})"
        served = [m["id"] for m in httpx.get(f"{base}/v1/models", timeout=5).json()["data"]]
        assert entry["useModelName"] in served
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
