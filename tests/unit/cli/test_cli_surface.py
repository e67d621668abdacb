"""The CLI's surface: --version, shell completion, compare, show --csv, a profile refused for a run
that is not a bakeoff, and output that fits 80 columns with the full values in --json."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

sys.path.insert(0, str(Path(__file__).parents[1] / "report"))
from sample_run import store_run

from lanekit import __version__
from lanekit.report.store import Store


def _lanekit(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lanekit.cli.main", *args], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "COLUMNS": "80", **(env or {})})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    db = tmp_path_factory.mktemp("store") / "r.sqlite"
    with Store(db) as store:
        first = store_run(store, created_offset_s=-60)
        second = store_run(store, scale=1.2, engine_version="version: 2 (def)", extra_args=["--flash-attn", "on"])
        evaluation = store.new_run("eval", {"agent": "builtin"})
        store.finish_run(evaluation, "finished")
    return str(db), first, second, evaluation


def _widest(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def test_version_and_shell_completion():
    proc = _lanekit("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"lanekit {__version__}"
    script = _lanekit("--show-completion", "bash")
    assert script.returncode == 0 and "_LANEKIT_COMPLETE=complete_bash" in script.stdout
    done = _lanekit(env={"_LANEKIT_COMPLETE": "complete_bash", "COMP_WORDS": "lanekit comp", "COMP_CWORD": "1"})
    assert done.stdout.split() == ["compare"]


def test_compare_fits_80_columns_and_json_has_every_value(runs):
    db, first, second, _ = runs
    proc = _lanekit("compare", first, second, "--db", db)
    assert proc.returncode == 0, proc.stderr
    assert _widest(proc.stdout) <= 80
    assert "engine version: version: 1 (abc) → version: 2 (def)" in proc.stdout
    assert "+20.0 % (better)" in proc.stdout
    doc = json.loads(_lanekit("compare", first, second, "--db", db, "--json").stdout)
    assert [r["run_id"] for r in doc["runs"]] == [first, second]
    decode = next(m for m in doc["lanes"][0]["metrics"] if m["metric"] == "decode tok/s")
    assert decode["cells"][1]["point"] == 36.0 and decode["verdict"] == "better"
    one = _lanekit("compare", first, "--db", db)
    assert one.returncode == 2 and one.stderr.startswith("error: compare: give at least two runs")


def test_show_csv_prints_every_sample_and_summary(runs):
    db, first, _, _ = runs
    proc = _lanekit("show", first, "--db", db, "--csv")
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    with Store(db) as store:
        assert len(rows) == len(store.samples(first)) + len(store.summaries(first))
    assert {"sample", "summary"} == {r["record"] for r in rows}


def test_profile_refuses_a_run_that_is_not_a_bakeoff_in_one_line_with_exit_2(runs, tmp_path):
    db, _, _, evaluation = runs
    proc = _lanekit("profile", evaluation, "--db", db, "--out", str(tmp_path / "p"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == f"error: run {evaluation} is an eval run, not a bakeoff: it has no ranked lanes to profile"
    assert lines[1].startswith("  fix: ") and len(lines) == 2
    assert not (tmp_path / "p").exists()


def test_profile_and_show_output_fit_80_columns(runs, tmp_path):
    db, first, second, _ = runs
    proc = _lanekit("profile", second, "--db", db, "--out", str(tmp_path / "p"))
    assert proc.returncode == 0 and _widest(proc.stdout) <= 80 and "report.html" in proc.stdout
    for args in (["show", first, "--db", db], ["runs", "--db", db], ["models"]):
        out = _lanekit(*args)
        assert out.returncode == 0 and _widest(out.stdout) <= 80, (args, out.stdout)
