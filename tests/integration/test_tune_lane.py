"""`lanekit tune` on a real llama-server lane: the default objective (seconds per agent turn) on the
trace shipped with lanekit, replayed through `lanekit.load.replay`; the winner comes out as a lane
spec `lanekit up` reads, and nothing is left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml


def test_tune_replays_the_trace_for_turn_s_and_writes_a_usable_winner(llama_server, tmp_path: Path) -> None:
    (tmp_path / "lanes.yaml").write_text(yaml.safe_dump({"lanes": [
        {"name": "it-tune-smol", "engine": "llamacpp", "model": "smollm2-135m", "ctx": 4096, "threads": 1}]}))
    env = {**os.environ, "LANEKIT_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "tune", "it-tune-smol", "--trace", "embedded:core",
                          "--budget", "2", "--finalists", "1", "--repeats", "1", "--no-doctor",
                          "--param", "threads=1", "--param", "parallel=1", "--param", "kv_dtype=f16,q8_0",
                          "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    measured = [t for t in out["trials"] if t["status"] == "measured"]
    assert measured and all(t["detail"]["workload"] == "replay" and t["detail"]["trace"] == "embedded:core"
                            for t in measured)
    assert all(t["errors"] == 0 and 0 < t["value"] < 120 for t in measured)
    assert out["objective"] == "turn_s" and out["winner_score"] > 0
    winner = yaml.safe_load((tmp_path / "home" / "tune" / f"{out['study']}.lanes.yaml").read_text())
    lane = winner["lanes"][0]
    assert lane["name"] == "it-tune-smol" and lane["engine"] == "llamacpp"
    ps = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "ps", "--json"], env=env, capture_output=True,
                        text=True, check=False)
    assert json.loads(ps.stdout or "[]") == []
