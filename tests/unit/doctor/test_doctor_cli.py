"""`lanekit doctor`: argument errors, exit code and the stable JSON on an unreachable lane."""

from __future__ import annotations

import json
import socket

from lanekit.cli.main import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_needs_exactly_one_target(capsys):
    assert main(["doctor"]) == 2
    assert "exactly one of --lane" in capsys.readouterr().err


def test_unreachable_url_fails_with_exit_1_and_stable_json(capsys):
    port = _free_port()
    code = main(["doctor", "--url", f"http://127.0.0.1:{port}/v1", "--json", "--timeout", "5"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["verdict"] == "fail" and doc["schema_version"] == 1
    assert doc["checks"][0]["name"] == "models" and doc["checks"][0]["status"] == "fail"
    assert doc["checks"][0]["fix"]


def test_unknown_lane_is_a_user_error(capsys):
    assert main(["doctor", "--lane", "no-such-lane"]) == 2
