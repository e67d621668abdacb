"""A build that dies on a signal here is found, named and fixed before it costs a bakeoff."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from lanekit.errors import LaneStartError
from lanekit.lanes import Lane
from lanekit.lanes.engines.llamacpp_host import check_host, host_env


def _wrapper(tmp_path: Path, body: str) -> str:
    """A `llama-server` in its own folder whose behaviour is `body` (sh)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    path = folder / "llama-server"
    path.write_text(f"#!/bin/sh\nulimit -c 0\n{body}\n")
    path.chmod(0o755)
    return str(path)


def _sigill_unless_no_repack(tmp_path: Path, real: str) -> str:
    """Dies with SIGILL unless weight repacking is off: the AMX host's behaviour."""
    return _wrapper(tmp_path, f'if [ "$LLAMA_ARG_REPACK" = "0" ]; then exec {real} "$@"; fi\nkill -ILL $$')


def test_smoke_records_the_no_repack_fix_and_lanes_run_with_it(tmp_path, llama_server, smollm2_path):
    binary = _sigill_unless_no_repack(tmp_path, llama_server)
    check = check_host(binary, smollm2_path)
    assert check.status == "ok-with-env"
    assert check.env == {"LLAMA_ARG_REPACK": "0"}
    assert check.signal_name == "SIGILL (illegal instruction)"
    assert "died with SIGILL (illegal instruction) while loading" in check.line()
    assert host_env(binary) == {"LLAMA_ARG_REPACK": "0"}  # recorded: the next tool gets it too

    lane = Lane(Lane(_spec(binary)).spec)
    lane.up(60)
    try:
        env = psutil.Process(lane.record.pid).environ()
        assert env.get("LLAMA_ARG_REPACK") == "0"
        assert lane.record.served_ctx_source == "/props"
    finally:
        assert lane.stop().verified


def test_a_build_that_always_dies_is_broken_with_the_portable_fix(tmp_path, smollm2_path):
    binary = _wrapper(tmp_path, "echo 'ggml_cpu_init: tilezero'; kill -ILL $$")
    check = check_host(binary, smollm2_path)
    assert check.status == "broken"
    assert check.diagnosis.startswith("llama-server died with SIGILL (illegal instruction) while loading")
    assert "./install.sh --portable" in (check.fix or "")


def test_a_lane_dying_on_sigill_in_warm_up_names_the_signal_and_the_fix(fake_engine_spec):
    lane = Lane(fake_engine_spec("sigill", name="it-sigill"))
    with pytest.raises(LaneStartError) as err:
        lane.up()
    message = err.value.message
    assert "fake-llama-server died with SIGILL (illegal instruction) while loading" in message
    assert "loading model tensors" in message  # the telling log line
    assert "lanekit smoke" in (err.value.fix or "") and "--portable" in (err.value.fix or "")
    assert lane.teardown is None or lane.teardown.processes_gone


def _spec(binary: str, name: str = "it-host"):
    from lanekit.lanes.spec import parse_lane

    return parse_lane({"name": name, "engine": "llamacpp", "model": "smollm2-135m", "binary": binary,
                       "ctx": 512, "threads": 1})


def test_bakeoff_on_a_build_dying_on_sigill_fails_named_and_exits_3(tmp_path, smollm2_path):
    binary = _wrapper(tmp_path, "kill -ILL $$")
    plan = {"name": "sigill", "lanes": [{"name": "ill", "engine": "llamacpp", "model": "smollm2-135m",
                                         "binary": binary, "ctx": 512}],
            "bench": {"single": {"samples": 1, "max_tokens": 8}, "sustained": None, "sweep": None},
            "eval": {"agent": "none"}}
    plan_path = tmp_path / "bakeoff.yaml"
    plan_path.write_text(yaml.safe_dump(plan))
    env = {**os.environ, "LANEKIT_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "bakeoff", str(plan_path), "--out",
                           str(tmp_path / "profile")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    # the failed step has its own progress line (stderr is not a terminal here)
    assert "ill: guard failed" in proc.stderr
    assert "died with SIGILL (illegal instruction)" in proc.stderr
    # the last words are the verdict (folded at 80 columns): from its first line to the end
    lines = proc.stdout.strip().splitlines()
    start = max(i for i, ln in enumerate(lines) if ln.startswith("No lane could be measured"))
    last = " ".join(ln.strip() for ln in lines[start:])
    assert last.startswith("No lane could be measured") and "SIGILL" in last
    assert (tmp_path / "profile" / "README.md").is_file()


def test_up_reports_the_context_the_server_serves_and_warns_below_the_ask(tmp_path):
    """SmolLM2 trains on 8,192 tokens: llama-server serves that per slot whatever -c asks."""
    import json

    env = {**os.environ, "LANEKIT_HOME": str(tmp_path / "home")}
    run = [sys.executable, "-m", "lanekit.cli.main"]
    proc = subprocess.run([*run, "up", "--name", "it-ctx", "--ctx", "16384", "--threads", "1", "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    try:
        assert proc.returncode == 0, proc.stderr
        row = json.loads(proc.stdout)
        assert (row["asked_ctx"], row["served_ctx"], row["served_ctx_source"]) == (16384, 8192, "/props")
        assert "serves 8,192 tokens per request, not the 16,384 asked" in row["ctx_warning"]
        ps = json.loads(subprocess.run([*run, "ps", "--json"], capture_output=True, text=True, env=env,
                                       timeout=60).stdout)
        assert [(r["name"], r["served_ctx"]) for r in ps] == [("it-ctx", 8192)]
    finally:
        subprocess.run([*run, "down", "it-ctx"], capture_output=True, env=env, timeout=60)


def test_every_llama_cpp_tool_of_a_build_gets_the_hosts_fix(tmp_path, llama_server, smollm2_path):
    """llama-bench and llama-perplexity beside a llama-server that needs LLAMA_ARG_REPACK=0 run with it."""
    from lanekit.lanes.engines.llamacpp_host import guarded

    folder = tmp_path / "build"
    folder.mkdir()
    (folder / "libggml-cpu.so").write_bytes(b"stand-in for the build's library")
    server = folder / "llama-server"
    server.write_text(f'#!/bin/sh\nulimit -c 0\nif [ "$LLAMA_ARG_REPACK" = "0" ]; then exec {llama_server} "$@"; fi\n'
                      "kill -ILL $$\n")
    server.chmod(0o755)
    for tool in ("llama-bench", "llama-perplexity"):
        (folder / tool).write_text("#!/bin/sh\nexit 0\n")
        (folder / tool).chmod(0o755)
    argv, env = guarded([str(folder / "llama-bench"), "-m", "x.gguf"])  # smoke-checks the build first
    assert argv == [str(folder / "llama-bench"), "--repack", "0", "-m", "x.gguf"]
    assert env["LLAMA_ARG_REPACK"] == "0"
    argv, env = guarded([str(folder / "llama-perplexity"), "-m", "x.gguf"])
    assert argv == [str(folder / "llama-perplexity"), "-m", "x.gguf"] and env["LLAMA_ARG_REPACK"] == "0"
