"""The Hermes driver against a fake `hermes` executable: config, 64K refusal, matching, scoring."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from lanekit.agents import load_battery, score_runs
from lanekit.agents.battery import Battery
from lanekit.agents.hermes import (
    MIN_CONTEXT,
    check_context,
    ensure_hermes,
    hermes_config,
    installed_version,
)
from lanekit.agents.hermes import run_battery_hermes as _run_battery_hermes
from lanekit.errors import HarnessError

FAKE = Path(__file__).with_name("fake_hermes.py")
BATTERY = load_battery()


def run_battery_hermes(*args, **kwargs):
    """The driver, with the fake's script and mode file readable in the jail (the real Hermes needs
    nothing extra)."""
    mode = Path(kwargs["hermes"]).with_name("mode")
    return _run_battery_hermes(*args, jail_ro=[FAKE.parent, mode], **kwargs)


@pytest.fixture
def fake_hermes(tmp_path) -> Path:
    exe = tmp_path / "hermes"
    # the driver passes Hermes a minimal environment, so the test mode travels in a file
    exe.write_text(f"#!/bin/sh\nFAKE_HERMES_MODE=$(cat {tmp_path}/mode 2>/dev/null) "
                   f"exec {sys.executable} {FAKE} \"$@\"\n")
    exe.chmod(0o755)
    (tmp_path / "mode").write_text("")
    tmp_path.chmod(0o755)  # the jail reads the fake from here (as uid 65534 when the tests run as root)
    return exe


def small_battery(*ids: str) -> Battery:
    return BATTERY.model_copy(update={"tasks": [BATTERY.task(i) for i in ids]})


def calls(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "hermes-home" / "calls.jsonl").read_text().splitlines()]


def test_a_lane_below_64k_is_refused_before_anything_runs():
    with pytest.raises(HarnessError, match="Hermes will refuse this lane") as exc:
        check_context(8192)
    assert "65536" in exc.value.fix
    with pytest.raises(HarnessError, match="Hermes will refuse this lane"):
        check_context(8192, claim_ctx=32768)
    with pytest.raises(HarnessError, match="unknown"):
        check_context(None)
    assert check_context(65536) == 65536
    assert check_context(8192, claim_ctx=65536) == 65536
    assert MIN_CONTEXT == 64_000


def test_run_battery_hermes_refuses_a_small_lane_without_starting_hermes(tmp_path, fake_hermes):
    with pytest.raises(HarnessError, match="Hermes will refuse this lane"):
        run_battery_hermes("http://lane/v1", "m", BATTERY, served_ctx=8192, hermes=fake_hermes, run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_config_states_the_context_length_for_the_model_and_the_compression_model():
    cfg = hermes_config("http://127.0.0.1:8080/v1", "qwen", 65536)
    # Hermes' providers: schema (config v12+): the model names a provider keyed by name
    assert cfg["model"] == {"provider": "custom:lanekit-lane", "default": "qwen", "context_length": 65536,
                            "max_tokens": 512}
    provider = cfg["providers"]["lanekit-lane"]
    assert provider["api"] == "http://127.0.0.1:8080/v1" and provider["default_model"] == "qwen"
    assert provider["transport"] == "chat_completions" and provider["models"] == {"qwen": {"context_length": 65536}}
    aux = cfg["auxiliary"]["compression"]
    assert aux == {"timeout": 900, "provider": "custom:lanekit-lane", "model": "qwen", "context_length": 65536}
    assert cfg["model_catalog"] == {"enabled": False}
    assert cfg["auxiliary"]["title_generation"] == {"enabled": False}


def test_secrets_in_the_callers_environment_do_not_reach_hermes(tmp_path, fake_hermes, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    (tmp_path / "mode").write_text("env")
    run_battery_hermes("http://lane/v1", "m", small_battery("read_phrase"), served_ctx=65536,
                       hermes=fake_hermes, run_dir=tmp_path / "r")
    assert "sk-should-not-leak" not in (tmp_path / "r" / "hermes-home" / "calls.jsonl").read_text()


def test_each_task_runs_as_one_oneshot_in_its_workspace_and_is_scored(tmp_path, fake_hermes):
    battery = small_battery("read_phrase", "create_then_read", "count_lines")
    seen = []
    runs = run_battery_hermes("http://lane/v1", "qwen", battery, served_ctx=65536, hermes=fake_hermes,
                              run_dir=tmp_path / "r", progress=lambda d, t, r: seen.append((d, t)))
    assert [r.task_id for r in runs] == ["read_phrase", "create_then_read", "count_lines"]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    argv = calls(tmp_path / "r")
    first = argv[0]
    assert first["argv"][:2] == ["-z", battery.tasks[0].prompt]
    assert first["argv"][2:4] == ["-t", "file"] and first["argv"][4] == "--usage-file"
    assert "lanekit-hermes-" in first["cwd"] and first["home"] == first["cwd"]  # one directory for the model
    cfg = yaml.safe_load(first["config"])
    assert cfg["model"]["context_length"] == 65536 and cfg["auxiliary"]["compression"]["context_length"] == 65536
    assert argv[-1]["argv"][:2] == ["sessions", "export"]
    assert (tmp_path / "r" / "sessions.jsonl").is_file()
    assert all(r.source == "hermes" and r.battery_sha256 == BATTERY.sha256 for r in runs)
    assert runs[1].artifacts == {"out/greeting.txt": "hello from lanekit"}
    assert set(runs[0].tool_schemas) == {"patch", "read_file", "search_files", "write_file"}
    score = score_runs(runs, battery)
    assert [r.outcome for r in score.runs] == ["success", "success", "grader_fail"]
    assert [e.cls for e in score.runs[2].errors] == ["no_call"]
    assert score.summary["format_error_rate"] == pytest.approx(1 / 3)


def test_repeats_are_matched_to_their_own_sessions(tmp_path, fake_hermes):
    runs = run_battery_hermes("http://lane/v1", "m", small_battery("read_phrase"), served_ctx=65536, repeats=2,
                              hermes=fake_hermes, run_dir=tmp_path / "r")
    assert [r.repeat for r in runs] == [0, 1]
    assert runs[0].id != runs[1].id and all(r.stop_reason == "answered" for r in runs)
    assert all(f'"session_id": "{r.id}"' in r.notes[-1] for r in runs)  # matched through the usage file


def test_hermes_failing_without_a_session_is_an_error_run_with_its_stderr(tmp_path, fake_hermes):
    (tmp_path / "mode").write_text("refuse")
    runs = run_battery_hermes("http://lane/v1", "m", small_battery("read_phrase"), served_ctx=65536,
                              hermes=fake_hermes, run_dir=tmp_path / "r")
    assert runs[0].stop_reason == "error" and "exited 1" in runs[0].error and "64,000" in runs[0].error
    assert score_runs(runs).runs[0].outcome == "error"


def test_a_hung_hermes_is_killed_at_the_task_timeout(tmp_path, fake_hermes):
    (tmp_path / "mode").write_text("sleep")
    runs = run_battery_hermes("http://lane/v1", "m", small_battery("read_phrase"), served_ctx=65536,
                              hermes=fake_hermes, run_dir=tmp_path / "r", task_timeout_s=1)
    assert runs[0].stop_reason == "timeout" and runs[0].wall_ns < 10 * 10**9
    assert score_runs(runs).runs[0].outcome == "timeout"


def test_ensure_hermes_without_install_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LANEKIT_HERMES_VENV", str(tmp_path / "venv"))
    assert installed_version() is None
    with pytest.raises(HarnessError, match="not installed") as exc:
        ensure_hermes(install=False)
    assert "lanekit eval --agent hermes" in exc.value.fix


def test_installed_version_reads_the_dist_info(tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    (venv / "lib/python3.11/site-packages/hermes_agent-0.19.0.dist-info").mkdir(parents=True)
    (venv / "bin").mkdir()
    (venv / "bin" / "hermes").write_text("")
    monkeypatch.setenv("LANEKIT_HERMES_VENV", str(venv))
    assert installed_version() == "0.19.0"
    assert ensure_hermes(install=False) == venv / "bin" / "hermes"


def test_hermes_runs_jailed_with_the_lane_as_its_only_way_out(tmp_path, fake_hermes, outside):
    import http.server
    import socket
    import threading

    class Lane(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"data": [{"id": "m", "path": self.path}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    lane = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Lane)
    threading.Thread(target=lane.serve_forever, daemon=True).start()
    other = socket.create_server(("127.0.0.1", 0))
    other.settimeout(0.2)
    (tmp_path / "mode").write_text(f"probe {outside.secret} {other.getsockname()[1]}")
    try:
        run_battery_hermes(f"http://127.0.0.1:{lane.server_address[1]}/v1", "m", small_battery("read_phrase"),
                           served_ctx=65536, hermes=fake_hermes, run_dir=tmp_path / "r")
    finally:
        lane.shutdown()
    probe = json.loads((tmp_path / "r" / "hermes-home" / "probe.json").read_text())
    assert probe.pop("lane") == "OPEN: " + repr(json.dumps({"data": [{"id": "m", "path": "/v1/models"}]}))
    assert probe.pop("write HERMES_HOME").startswith("OPEN") and probe.pop("write HOME").startswith("OPEN")
    assert {k: v for k, v in probe.items() if v.startswith("OPEN")} == {}, probe
    with pytest.raises(TimeoutError):
        other.accept()
    assert outside.untouched()
    cfg = yaml.safe_load((tmp_path / "r" / "hermes-home" / "config.yaml").read_text())
    provider = cfg["model"]["provider"].removeprefix("custom:")
    assert cfg["providers"][provider]["api"].startswith("http://127.0.0.1:")  # lanekit's copy, not rewritten


def test_the_owners_hermes_is_used_and_nothing_is_installed(tmp_path, fake_hermes, monkeypatch):
    """HERMES=… (or the one ./install.sh recorded) drives the battery; lanekit's pinned copy is
    neither needed nor installed (install=False over an empty venv would refuse)."""
    from lanekit.agents.hermes import owner_hermes
    from lanekit.errors import ConfigError
    from lanekit.lanes import owner_tools

    monkeypatch.setenv("LANEKIT_HOME", str(tmp_path / "home"))  # the record stays in this test
    monkeypatch.setenv("LANEKIT_HERMES_VENV", str(tmp_path / "no-venv"))
    monkeypatch.delenv("HERMES", raising=False)
    assert owner_hermes() is None
    owner_tools.record("hermes", str(fake_hermes))
    assert owner_hermes() == fake_hermes
    said = []
    runs = _run_battery_hermes("http://lane/v1", "m", small_battery("read_phrase"), served_ctx=65536,
                               install=False, run_dir=tmp_path / "r", log=said.append,
                               jail_ro=[FAKE.parent, tmp_path / "mode"])
    assert runs[0].stop_reason == "answered" and any(str(fake_hermes) in line for line in said)
    assert not (tmp_path / "no-venv").exists()
    monkeypatch.setenv("HERMES", str(tmp_path / "missing-hermes"))
    with pytest.raises(ConfigError, match="HERMES="):
        owner_hermes()
