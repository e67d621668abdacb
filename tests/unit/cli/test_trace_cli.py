"""`lanekit trace convert` / `show` in-process, and the one-line errors of `bench --replay`."""

from __future__ import annotations

import json

from lanekit.cli.main import main


def _session(sid: str, t: float) -> dict:
    call = [{"name": "read_file", "arguments": '{"path": "notes/secret.txt"}'}]
    return {
        "id": sid,
        "started_at": t,
        "system_prompt": "You are Hermes.",
        "messages": [
            {
                "role": "user",
                "content": "Read the file notes/secret.txt and tell me the passphrase written in it.",
                "timestamp": t + 0.1,
            },
            {"role": "assistant", "content": "", "tool_calls": call, "timestamp": t + 2.0, "token_count": 20},
            {"role": "tool", "content": "violet-harbor-42", "tool_call_id": "call_x", "timestamp": t + 2.5},
            {"role": "assistant", "content": "violet-harbor-42", "timestamp": t + 3.0, "token_count": 6},
        ],
    }


def test_convert_then_show(tmp_path, capsys):
    runs = tmp_path / "sessions.jsonl"
    runs.write_text(json.dumps(_session("b", 200.0)) + "\n" + json.dumps(_session("a", 100.0)) + "\n")
    out = tmp_path / "t.trace.jsonl"
    assert main(["trace", "convert", str(runs), "-o", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["sessions"], info["requests"], info["extend_previous"]) == (2, 4, 2)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["session_id"] for x in lines] == ["a", "a", "b", "b"]  # sessions in the order they started
    assert lines[0]["timestamp"] == 100.0 and lines[2]["timestamp"] == 100100.0 and lines[1]["delay"] == 500.0
    assert main(["trace", "show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "sessions" in text and "2/2 later requests" in text


def test_errors_are_one_line_with_the_fix(tmp_path, capsys):
    assert main(["trace", "convert", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "x")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.trace.jsonl"
    bad.write_text('{"session_id": "a"}\n')
    assert main(["trace", "show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 1: messages" in err and "fix:" in err and "Traceback" not in err
    assert (
        main(
            [
                "bench",
                "--url",
                "http://127.0.0.1:9/v1",
                "--model",
                "m",
                "--replay",
                str(bad),
                "--replay-mode",
                "sideways",
            ]
        )
        == 2
    )
    assert "--replay-mode" in capsys.readouterr().err
