"""Faults around real lanes: the engine SIGKILLed mid-bench and mid-bakeoff, the CLI SIGKILLed
mid-bakeoff (orphan found, run resumed, attempts never mixed), two bakeoffs or two benches at once,
a leader that died under live children, and a stranger that holds a recycled process group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml

from lanekit.report.store import Store

LANEKIT = [sys.executable, "-m", "lanekit.cli.main"]
SMOL = {"name": "smol", "engine": "llamacpp", "model": "smollm2-135m", "ctx": 512, "threads": 1,
        "max_output_tokens": 64}


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "LANEKIT_HOME": str(tmp_path / "home")}


def _plan(tmp_path: Path, sustained_s: float = 20, agent: str = "builtin", lanes=None) -> Path:
    doc = {"name": "faults", "lanes": lanes or [SMOL],
           "bench": {"single": {"samples": 1, "max_tokens": 16, "warmup": 0},
                     "sustained": {"duration_s": sustained_s, "interval_s": 2, "max_tokens": 16}, "sweep": None},
           "eval": {"agent": agent, "max_tokens": 32, "max_turns": 2, "task_timeout_s": 30}}
    path = tmp_path / "bakeoff.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _lane_record(tmp_path: Path, name: str, timeout: float = 60) -> dict:
    path = tmp_path / "home" / "lanes" / f"{name}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except ValueError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"no lane record {path}")


def _wait_step(tmp_path: Path, lane: str, step: str, timeout: float = 120) -> None:
    """Block until the bakeoff in this home has `lane` in `step` (status running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db = tmp_path / "home" / "results.sqlite"
        if db.is_file():
            with Store(db) as store:
                for run in store.list_runs():
                    for s in store.lane_steps(run["run_id"], lane):
                        if s["step"] == step and s["status"] == "running":
                            return
        time.sleep(0.2)
    raise AssertionError(f"{lane} never reached {step}")


def _wait_samples(tmp_path: Path, lane: str, scenario: str, n: int = 1, timeout: float = 120) -> None:
    """Block until the store in this home holds `n` samples of `lane` × `scenario`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db = tmp_path / "home" / "results.sqlite"
        if db.is_file():
            with Store(db) as store:
                runs = store.list_runs()
                if runs and len(store.samples(runs[0]["run_id"], lane, scenario)) >= n:
                    return
        time.sleep(0.2)
    raise AssertionError(f"{lane} never stored {n} {scenario} sample(s)")


def _gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _ours(tmp_path: Path) -> list[psutil.Process]:
    from lanekit.lanes.registry import lanekit_processes

    home = str(tmp_path / "home")
    return [p for p in lanekit_processes() if p.environ().get("LANEKIT_HOME") == home]


def test_engine_killed_mid_bench_stops_the_bench_in_seconds_with_few_error_rows(tmp_path):
    env = _env(tmp_path)
    up = subprocess.run([*LANEKIT, "up", "--name", "it-kill", "--ctx", "512", "--threads", "1", "--json"],
                        capture_output=True, text=True, env=env, timeout=120)
    assert up.returncode == 0, up.stderr
    pid = json.loads(up.stdout)["pid"]
    bench = subprocess.Popen([*LANEKIT, "bench", "--lane", "it-kill", "-s", "sustained", "--duration", "60",
                              "--interval", "2", "--max-tokens", "16"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        _, err = bench.communicate(timeout=60)
        stopped_in = time.monotonic() - killed
    finally:
        if bench.poll() is None:
            bench.kill()
    assert bench.returncode == 2, err
    assert "Traceback" not in err and "it-kill's engine" in err and "is gone" in err
    assert stopped_in < 5, stopped_in
    with Store(tmp_path / "home" / "results.sqlite") as store:
        run = store.list_runs()[0]
        errors = [s for s in store.samples(run["run_id"]) if s["data"].get("error")]
    assert len(errors) <= 3, len(errors)  # not thousands of rows against a dead port
    assert run["status"] == "failed"
    ps = subprocess.run([*LANEKIT, "ps", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert json.loads(ps.stdout) == []


def test_engine_killed_mid_bakeoff_fails_its_step_and_the_battery_never_runs(tmp_path):
    env = _env(tmp_path)
    proc = subprocess.Popen([*LANEKIT, "bakeoff", str(_plan(tmp_path, sustained_s=60)), "--out",
                             str(tmp_path / "profile")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        _wait_step(tmp_path, "smol", "bench")
        time.sleep(3)  # well inside the 60 s sustained window
        os.kill(_lane_record(tmp_path, "smol")["pid"], signal.SIGKILL)
        killed = time.time()
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out + err
    line = next(ln for ln in err.splitlines() if "smol: bench failed" in ln)
    assert "died with SIGKILL (killed)" in line
    assert "smol: eval" not in err  # the battery never ran against the dead port
    with Store(tmp_path / "home" / "results.sqlite") as store:
        run_id = store.list_runs()[0]["run_id"]
        steps = {s["step"]: s for s in store.lane_steps(run_id, "smol")}
        assert steps["bench"]["status"] == "failed" and "eval" not in steps
        assert steps["bench"]["updated_at"] - killed < 5  # detected within seconds, not at the 60 s deadline
        assert not store.samples(run_id, "smol", "agent_run")
    assert "failed at `bench`" in (tmp_path / "profile" / "README.md").read_text()
    assert not _ours(tmp_path)


def test_cli_killed_mid_bakeoff_leaves_an_orphan_that_the_rerun_stops_and_resumes(tmp_path):
    env = _env(tmp_path)
    cmd = [*LANEKIT, "bakeoff", str(_plan(tmp_path, sustained_s=30, agent="none")), "--out", str(tmp_path / "p")]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_step(tmp_path, "smol", "bench")
    _wait_samples(tmp_path, "smol", "single")  # the first attempt has measured something
    first.kill()  # SIGKILL: nothing tears the lane down
    first.wait(timeout=10)
    ps = json.loads(subprocess.run([*LANEKIT, "ps", "--json"], capture_output=True, text=True, env=env,
                                   timeout=60).stdout)
    assert [(r["name"], r["state"], r["owner_kind"]) for r in ps] == [("smol", "orphan", "bakeoff")]
    rerun = subprocess.run(cmd + ["--json"], capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "stopped an orphan of a killed bakeoff" in rerun.stderr
    report = json.loads(rerun.stdout)
    lane = report["lanes"][0]
    assert lane["attempt"] == 1 and lane["failure"] is None
    with Store(tmp_path / "home" / "results.sqlite") as store:
        runs = store.list_runs()
        assert len(runs) == 1 and runs[0]["run_id"] == report["run_id"]  # the same run, resumed
        attempts = {s["attempt"] for s in store.samples(report["run_id"], "smol", "single")}
        latest = store.samples(report["run_id"], "smol", "single", attempt="latest")
    assert attempts == {0, 1}  # the interrupted attempt's samples are kept...
    assert {s["attempt"] for s in latest} == {1}  # ...and never mixed into the summary's
    assert lane["bench"]["single"]["requests"] == len(latest) == 1
    assert not _ours(tmp_path)


def test_a_second_bakeoff_in_one_home_refuses_naming_the_first(tmp_path):
    env = _env(tmp_path)
    plan = _plan(tmp_path, sustained_s=30, agent="none")
    first = subprocess.Popen([*LANEKIT, "bakeoff", str(plan), "--out", str(tmp_path / "a")], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_step(tmp_path, "smol", "bench")
        second = subprocess.run([*LANEKIT, "bakeoff", str(plan), "--out", str(tmp_path / "b")], capture_output=True,
                                text=True, env=env, timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"lanekit bakeoff faults (pid {first.pid}" in second.stderr and "--wait" in second.stderr
        # a bench on the lane the first bakeoff is measuring refuses too
        bench = subprocess.run([*LANEKIT, "bench", "--lane", "smol", "--samples", "1"], capture_output=True,
                               text=True, env=env, timeout=60)
        assert bench.returncode == 2 and "lanekit bakeoff faults (smol)" in bench.stderr, bench.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
    assert first.returncode == 130
    assert not _ours(tmp_path)


def test_a_lane_whose_leader_died_keeps_its_record_until_its_children_are_stopped(fake_engine_spec, tmp_path):
    from lanekit.lanes import Lane, registry

    lane = Lane(fake_engine_spec("spawn-child", name="it-orphan-child"), detached=True)
    lane.up()
    child = next(p for p in psutil.Process(lane.record.pid).children(recursive=True))
    os.kill(lane.record.pid, signal.SIGKILL)
    lane.popen.wait(timeout=5)
    rec = registry.find_live("it-orphan-child")
    assert rec.state() == "leader-gone" and child.pid in [p.pid for p in rec.processes()]
    row = registry.as_row(rec)
    assert row["state"] == "leader-gone" and row["processes"] >= 1 and row["rss_bytes"]
    from lanekit.lanes.lifecycle import down

    report = down("it-orphan-child")
    assert report.processes_gone and _gone(child)
    assert registry.read("it-orphan-child") is None


def test_teardown_never_signals_a_stranger_holding_the_recorded_process_group(tmp_path):
    from lanekit.lanes import registry
    from lanekit.lanes.teardown import stop_lane_processes

    gone = subprocess.Popen(["true"])
    gone.wait()
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)  # no lanekit marker
    try:
        rec = registry.LaneRecord(name="it-stranger", engine="llamacpp", pid=gone.pid, pgid=stranger.pid,
                                  create_time=time.time() - 5, start_ticks=1, host="127.0.0.1", port=1,
                                  base_url="http://127.0.0.1:1/v1", health_url="http://127.0.0.1:1/health",
                                  metrics_url=None, model_id="m", served_ctx=1, log_path="/dev/null",
                                  started_at=time.time(), mem_available_before_bytes=psutil.virtual_memory().available,
                                  owner_pid=os.getpid(), home=os.environ["LANEKIT_HOME"],
                                  spec={"stop_grace_s": 0.5})
        registry.write(rec)
        report = stop_lane_processes(rec)
        assert stranger.poll() is None  # still running: its group was never ours to signal
        assert report.processes_gone and report.survivors == []
    finally:
        stranger.kill()
        stranger.wait()
