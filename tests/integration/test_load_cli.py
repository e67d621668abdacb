"""`lanekit bench / runs / show` as real subprocesses against the fake streaming server on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "benchmarks" / "fake_openai_server.py"


@pytest.fixture(scope="module")
def fake_url():
    proc = subprocess.Popen([sys.executable, str(SERVER), "--port", "0", "--rate", "2000"], stdout=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def lanekit(*args: str, db: Path | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "lanekit.cli.main", *args] + (["--db", str(db)] if db else [])
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


def test_bench_json_single_prints_one_stable_object(fake_url, tmp_path):
    db = tmp_path / "r.sqlite"
    out = lanekit("bench", "--url", fake_url, "--scenario", "single", "--samples", "3", "--max-tokens", "64",
                  "--json", db=db)
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout)
    assert obj["schema_version"] == 1 and obj["scenario"] == "single" and obj["model"] == "fake"
    assert obj["base_url"] == fake_url + "/v1" and obj["samples"] == 3 and obj["short_outputs"] == 0
    assert obj["decode_tok_s"] == pytest.approx(2000, rel=0.1)
    assert obj["server_decode_tok_s"] == pytest.approx(obj["decode_tok_s"], rel=0.05)
    assert obj["ttft_ms"] > 0 and len(obj["prompt_sha256"]) == 64

    runs = json.loads(lanekit("runs", "--json", db=db).stdout)["runs"]
    assert runs[0]["run_id"] == obj["run_id"] and runs[0]["status"] == "done" and runs[0]["n_samples"] == 3
    shown = json.loads(lanekit("show", obj["run_id"], "--json", "--samples", db=db).stdout)
    assert shown["run"]["run_id"] == obj["run_id"] and shown["summaries"][0]["scenario"] == "single"
    assert shown["summaries"][0]["summary"]["decode_tok_s"] == obj["decode_tok_s"]
    assert len(shown["samples"]) == 3 and shown["samples"][0]["data"]["osl"] == 64


def test_bench_several_scenarios_print_an_array_in_order(fake_url, tmp_path):
    out = lanekit("bench", "--url", fake_url + "/v1/", "--scenario", "sweep,sustained", "--concurrency", "1,2",
                  "--requests-per-level", "2", "--max-tokens", "32", "--duration", "1", "--interval", "0.5",
                  "--json", db=tmp_path / "r.sqlite")
    assert out.returncode == 0, out.stderr
    sweep, sustained = json.loads(out.stdout)
    assert sweep["scenario"] == "sweep" and [lvl["concurrency"] for lvl in sweep["levels"]] == [1, 2]
    assert sweep["levels"][1]["aggregate_tok_s"] > sweep["levels"][0]["aggregate_tok_s"]
    assert sustained["scenario"] == "sustained" and sustained["server"]["engine"] == "llamacpp"
    assert sustained["server"]["server_in_flight_tok_s"] > 0 and len(sustained["intervals"]) >= 1


def test_bench_human_output_and_show_render(fake_url, tmp_path):
    db = tmp_path / "r.sqlite"
    out = lanekit("bench", "--url", fake_url, "--samples", "1", "--max-tokens", "8", db=db)
    assert out.returncode == 0 and "decode_tok_s" in out.stdout
    assert lanekit("show", "latest", db=db).returncode == 0
    assert "single" in lanekit("runs", db=db).stdout


def test_user_errors_are_one_line_with_a_fix_and_exit_2(fake_url, tmp_path):
    bad = lanekit("bench", "--url", fake_url, "--scenario", "fast", "--no-store")
    assert bad.returncode == 2 and "unknown scenario" in bad.stderr and "fix:" in bad.stderr
    both = lanekit("bench", "--no-store")
    assert both.returncode == 2 and "--lane" in both.stderr
    dead = lanekit("bench", "--url", "http://127.0.0.1:9", "--no-store")
    assert dead.returncode == 2 and "did not answer" in dead.stderr
    missing = lanekit("bench", "--lane", "no-such-lane", "--no-store")
    assert missing.returncode == 2 and "no live lane" in missing.stderr
    nothing = lanekit("show", "nope", db=tmp_path / "empty.sqlite")
    assert nothing.returncode == 2 and "no run" in nothing.stderr
    assert "Traceback" not in bad.stderr + both.stderr + dead.stderr + missing.stderr + nothing.stderr
