"""The main job end to end on real lanes: a fast SmolLM2 lane, a lane made to fail, resume after
Ctrl-C, and the generated launch script started by hand. The full default plan (Qwen lanes) is `slow`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from lanekit.bakeoff import load_plan, run_bakeoff
from lanekit.report.store import Store
from lanekit.results.models import BakeoffReport

BATTERY_TASKS = 3


def _plan(tmp_path: Path, lanes: list[dict]) -> Path:
    plan = {
        "name": "it-bakeoff",
        "lanes": lanes,
        "bench": {"single": {"samples": 2, "max_tokens": 48, "warmup": 1},
                  "sustained": {"duration_s": 4, "interval_s": 1, "max_tokens": 48},
                  "sweep": {"concurrency": [1, 2], "max_tokens": 32}},
        "eval": {"agent": "builtin", "repeats": 1, "max_turns": 3, "task_timeout_s": 60, "max_tokens": 128},
    }
    path = tmp_path / "bakeoff.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


SMOL = {"name": "smol", "engine": "llamacpp", "model": "smollm2-135m", "ctx": 2048, "parallel": 2, "threads": 2,
        "max_output_tokens": 256}


def test_bakeoff_ranks_reports_failures_and_writes_profile(llama_server, tmp_path):
    bad = {"name": "bad-binary", "engine": "llamacpp", "model": "smollm2-135m", "binary": "/nonexistent/llama-server"}
    plan = load_plan(_plan(tmp_path, [SMOL, bad]))
    out = tmp_path / "profile"
    store = Store(tmp_path / "results.sqlite")
    result = run_bakeoff(plan, out_dir=out, store=store, resume=False)

    smol, failed = result.lane("smol"), result.lane("bad-binary")
    # the failing lane is recorded with its step and reason, and the other lane still ran
    assert failed.failed_step == "guard" and "llama-server" in failed.failure.reason
    assert smol.failed_step is None
    assert smol.decode_tok_s > 0 and smol.bench.ttft_ms > 0
    assert smol.teardown.verified is True and smol.teardown.memory_back
    # SmolLM2 cannot call tools: the doctor fails it and it is disqualified
    assert smol.doctor_verdict == "fail"
    assert not result.ranking.of("smol").eligible and result.recommended is None
    assert "No lane is eligible" in result.verdict
    # the profile holds real numbers, plots and raw data
    readme = (out / "README.md").read_text()
    assert "| smol | llamacpp |" in readme and f"{smol.decode_tok_s:.1f}" in readme
    assert "bad-binary** failed at `guard`" in readme
    for png in ("speed.png", "sweep.png", "sustained.png"):
        assert (out / "plots" / png).stat().st_size > 5000, png
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema_version"] == 2 and manifest["run_id"] == result.run_id
    assert BakeoffReport.model_validate(manifest).lane("smol").decode_tok_s == smol.decode_tok_s
    assert manifest["battery_sha256"] and manifest["prompt_sha256"]
    assert (out / "raw" / "samples.jsonl").stat().st_size > 0
    assert (out / "launch" / "lanekit-smol.service").is_file()
    steps = [(s["lane"], s["step"], s["status"]) for s in store.lane_steps(result.run_id)]
    assert ("smol", "down", "ok") in steps and ("bad-binary", "guard", "failed") in steps
    # `lanekit profile RUN` re-renders the same profile from the store (Store() lives in LANEKIT_HOME)
    import os

    again = tmp_path / "again"
    cli = [sys.executable, "-m", "lanekit.cli.main", "profile", result.run_id, "--out", str(again)]
    proc = subprocess.run(cli, capture_output=True, text=True, timeout=120, env={**os.environ, "LANEKIT_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert (again / "README.md").read_text() == readme
    proc = subprocess.run(cli, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "LANEKIT_HOME": str(tmp_path / "elsewhere")})
    assert proc.returncode == 2 and "no run" in proc.stderr

    # the generated launch script starts the lane by hand
    with _launched(out / "launch" / "smol.sh", 18931) as base:
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200


@contextlib.contextmanager
def _launched(script: Path, port: int):
    """Run a generated launch script by hand (PORT overridden) until the lane answers /health."""
    launched = subprocess.Popen(["bash", str(script)], env={**os.environ, "PORT": str(port)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline, ok = time.monotonic() + 60, False
        while time.monotonic() < deadline and not ok and launched.poll() is None:
            try:
                ok = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.2)
        assert ok, f"launch script did not bring the lane up (exit {launched.poll()})"
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(launched.pid, signal.SIGKILL)
        launched.wait()


def test_the_recommended_lanes_launch_script_and_hermes_config_agree(llama_server, tmp_path):
    """A recommended lane's profile: its launch script serves the model Hermes' config names."""
    doc = yaml.safe_load(_plan(tmp_path, [SMOL]).read_text())
    # SmolLM2 cannot call tools, so only thresholds opened wide let it be recommended
    doc["ranking"] = {"require_doctor_pass": False, "max_format_error_rate": 1.0, "min_clean_run_rate": 0.0}
    doc["bench"] = {"single": {"samples": 1, "max_tokens": 16, "warmup": 0}, "sustained": None, "sweep": None}
    (tmp_path / "open.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path / "profile"
    result = run_bakeoff(load_plan(tmp_path / "open.yaml"), out_dir=out, store=Store(tmp_path / "r.sqlite"),
                         resume=False)
    assert result.recommended == "smol" and result.verdict.startswith("Recommended: smol")
    config_text = (out / "hermes" / "config.yaml").read_text()
    cfg = yaml.safe_load(config_text)
    assert cfg["model"]["context_length"] == cfg["auxiliary"]["compression"]["context_length"] == 2048
    assert "WARNING" in config_text and "under 64,000" in config_text  # 2,048 served: Hermes would refuse it
    provider = cfg["providers"][cfg["model"]["provider"].removeprefix("custom:")]
    port = httpx.URL(provider["api"]).port
    with _launched(out / "launch" / "smol.sh", port) as base:
        assert provider["api"] == f"{base}/v1" and provider["default_model"] == cfg["model"]["default"]
        served = [m["id"] for m in httpx.get(f"{base}/v1/models", timeout=5).json()["data"]]
        assert cfg["model"]["default"] in served


def test_interrupted_bakeoff_resumes_skipping_finished_lanes(llama_server, tmp_path):
    second = dict(SMOL, name="smol-b")
    plan_path = _plan(tmp_path, [SMOL, second])
    env = {**os.environ, "LANEKIT_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "lanekit.cli.main", "bakeoff", str(plan_path), "--out", str(tmp_path / "p"),
           "--agent", "none"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = Store(tmp_path / "home" / "results.sqlite")
    # Interrupt only once the first lane is done and the second is mid-bench. (The loop used to
    # fall through silently at its deadline: under heavy load the signal then landed while the
    # first lane was still running, and the rerun rightly resumed nothing.)
    deadline, reached = time.monotonic() + 900, False
    while not reached and time.monotonic() < deadline and proc.poll() is None:
        runs = store.list_runs()
        steps = store.lane_steps(runs[0]["run_id"]) if runs else []
        reached = any(s["lane"] == "smol" and s["step"] == "done" for s in steps) and any(
            s["lane"] == "smol-b" and s["step"] == "bench" for s in steps)
        time.sleep(0.3)
    if not reached:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        pytest.fail(f"the first run never reached smol-b's bench (exit {proc.returncode}); steps: "
                    f"{store.lane_steps(store.list_runs()[0]['run_id']) if store.list_runs() else None}")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    # stderr is not a terminal here: progress comes as one line per finished step
    assert "smol: down ok" in err and "smol-b: up ok" in err, err[-2000:]
    from lanekit.lanes.registry import lanekit_processes

    assert not [p for p in lanekit_processes() if p.environ().get("LANEKIT_HOME") == env["LANEKIT_HOME"]]
    run_id = store.list_runs()[0]["run_id"]
    assert store.get_run(run_id)["status"] == "interrupted"

    rerun = subprocess.run(cmd + ["--json"], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    result = json.loads(rerun.stdout)
    assert result["run_id"] == run_id
    assert result["resumed_lanes"] == ["smol"], (result["resumed_lanes"], store.lane_steps(run_id))
    assert "smol: finished in the interrupted run, skipped" in rerun.stderr
    assert {x["name"] for x in result["lanes"]} == {"smol", "smol-b"}
    assert all(x["bench"]["single"]["decode_tok_s"] for x in result["lanes"])


@pytest.mark.slow
def test_default_plan_end_to_end(llama_server, qwen_path, tmp_path):
    """The embedded default story: SmolLM2 disqualified by the doctor, stock Qwen's calls land in
    the text and the doctor names the template fix, fixed Qwen makes structured calls. Whether the
    fixed lane is recommended is measured, not assumed: the 1.5B model is sampled (its model
    card's settings) and a single fumbled run out of eight disqualifies it."""
    out = tmp_path / "profile"
    t0 = time.monotonic()
    result = run_bakeoff(load_plan(None), out_dir=out, store=Store(tmp_path / "r.sqlite"), resume=False)
    elapsed = time.monotonic() - t0
    print(f"default bakeoff took {elapsed / 60:.1f} min; {result.verdict}")
    lanes = {x.name: x for x in result.lanes}
    for x in result.lanes:
        print(" ", x.name, x.decode_tok_s, x.rate("format_error_rate"), x.rate("clean_run_rate"),
              x.get("task_success_rate"), x.get("ineligible_reasons"))
    assert all(x.failed_step is None and x.teardown.verified for x in result.lanes)
    assert not result.ranking.of("smollm2-135m").eligible and lanes["smollm2-135m"].doctor_verdict == "fail"
    stock, fixed = lanes["qwen-coder-stock"], lanes["qwen-coder-fixed"]
    assert not result.ranking.of("qwen-coder-stock").eligible
    assert stock.eval.error_counts["call_in_content"] >= 4
    assert any("qwen2.5-coder-tools" in (f or "") for f in stock.get("doctor_fixes", []))
    assert fixed.doctor_verdict == "pass" and fixed.eval.summary["tool_calls"] >= 4
    assert fixed.eval.error_counts["call_in_content"] == 0
    assert fixed.rate("clean_run_rate") > stock.rate("clean_run_rate")
    if result.recommended is None:
        assert "No lane is eligible" in result.verdict and result.ranking.of("qwen-coder-fixed").reasons
        assert "No lane was eligible" in (out / "hermes" / "README.md").read_text()
    else:
        assert result.recommended == "qwen-coder-fixed"
        cfg = yaml.safe_load((out / "hermes" / "config.yaml").read_text())
        assert cfg["model"]["context_length"] == cfg["auxiliary"]["compression"]["context_length"] == 65536
    readme = (out / "README.md").read_text()
    assert all(f"| {name} |" in readme for name in lanes)
    assert {p.name for p in (out / "plots").iterdir()} >= {"speed.png", "sweep.png", "sustained.png"}
