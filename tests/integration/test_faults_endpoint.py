"""Faults at the endpoint: a hung server, a keep-alive trickle, malformed streams, a connection
dropped mid-stream. Each is a failed request or a bounded, named stop — never a hang or a
traceback. Fake servers, because no real engine misbehaves on demand."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

FAKE = Path(__file__).with_name("fake_sse_server.py")
LANEKIT = [sys.executable, "-m", "lanekit.cli.main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake_server(tmp_path):
    procs = []

    def start(mode: str) -> str:
        port = _free_port()
        proc = subprocess.Popen([sys.executable, str(FAKE), "--port", str(port)],
                                env={**os.environ, "FAKE_SSE_MODE": mode}, stdout=subprocess.DEVNULL)
        procs.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return f"http://127.0.0.1:{port}/v1"
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("fake server did not start")

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=5)


def _bench(url: str, tmp_path: Path, *args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "LANEKIT_HOME": str(tmp_path / "home")}
    t0 = time.monotonic()
    proc = subprocess.run([*LANEKIT, "bench", "--url", url, "--model", "fake", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    return proc, time.monotonic() - t0


@pytest.mark.parametrize("mode, needle", [
    ("list", "event is list, not an object"),
    ("choices", "choices is 'abc'"),
    ("utf8", "not JSON"),
    ("usage", "usage.completion_tokens is 'lots'"),
    ("close", "RemoteProtocolError"),
])
def test_a_malformed_or_cut_stream_is_a_failed_request_not_a_crash(fake_server, tmp_path, mode, needle):
    url = fake_server(mode)
    proc, _ = _bench(url, tmp_path, "--samples", "2", "--warmup", "0", "--max-tokens", "8", "--json")
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["requests"] == 2 and doc["errors"] == 2 and doc["samples"] == 0
    assert needle in doc["first_error"], doc["first_error"]
    assert proc.returncode == 1 and "no request of single succeeded" in proc.stderr


@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_a_server_that_never_answers_stops_the_bench_at_the_deadline(fake_server, tmp_path, mode):
    url = fake_server(mode)
    proc, wall = _bench(url, tmp_path, "--samples", "5", "--warmup", "1", "--timeout", "1")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "the server is hung: 2 requests in a row got no complete answer" in proc.stderr
    assert wall < 15  # two 1 s deadlines plus start-up; never the old 600 s per request


@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_doctor_timeout_is_a_deadline_per_request(fake_server, tmp_path, mode):
    url = fake_server(mode)
    env = {**os.environ, "LANEKIT_HOME": str(tmp_path / "home")}
    t0 = time.monotonic()
    proc = subprocess.run([*LANEKIT, "doctor", "--url", url, "--timeout", "1", "--json"], capture_output=True,
                          text=True, env=env, timeout=120)
    wall = time.monotonic() - t0
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["verdict"] == "fail" and proc.returncode == 1
    tools = next(c for c in report["checks"] if c["name"] == "tool_calls")
    assert "no answer" in tools["detail"] and "1 s" in tools["detail"]
    assert wall < 40  # a handful of 1 s deadlines, not minutes


def test_a_healthy_fake_stream_still_measures(fake_server, tmp_path):
    url = fake_server("ok")
    proc, _ = _bench(url, tmp_path, "--samples", "2", "--warmup", "0", "--max-tokens", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["samples"] == 2 and doc["errors"] == 0 and doc["osl"] == 8
