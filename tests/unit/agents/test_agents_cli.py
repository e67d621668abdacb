"""`lanekit score` and `lanekit eval` end to end in-process (no network: lanes and loop are faked)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import httpx
import pytest

import lanekit.agents
from lanekit.agents import load_battery
from lanekit.agents.traces.jsonl import read_runs, write_runs
from lanekit.cli.main import main

BATTERY = load_battery()


def hermes_session(sid: str, prompt: str, answer: str, calls: list | None = None) -> str:
    msgs = [{"role": "user", "content": prompt}]
    if calls:
        msgs += [{"role": "assistant", "content": "", "tool_calls": calls, "finish_reason": "tool_calls"},
                 {"role": "tool", "content": "ok", "tool_call_id": "c1"}]
    msgs.append({"role": "assistant", "content": answer, "finish_reason": "stop"})
    return json.dumps({"id": sid, "source": "oneshot", "messages": msgs})


@pytest.fixture
def export(tmp_path):
    read = [{"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "notes/secret.txt"}'}}]
    lines = [hermes_session("good", BATTERY.task("read_phrase").prompt, "violet-harbor-42", read),
             '{"id": "broken", "messages": [',
             hermes_session("lazy", BATTERY.task("count_lines").prompt, "Probably 10 lines.")]
    path = tmp_path / "sessions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_score_json_has_the_stable_shape_and_reports_the_malformed_line(export, capsys):
    assert main(["score", str(export), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["runs", "summary", "skipped_lines"]
    assert doc["skipped_lines"] == [{"line": 2, "reason": doc["skipped_lines"][0]["reason"]}]
    assert doc["skipped_lines"][0]["reason"].startswith("not valid JSON")
    good, lazy = doc["runs"]
    assert {k: good[k] for k in ("id", "clean", "finished", "outcome", "tool_calls")} == {
        "id": "good", "clean": True, "finished": True, "outcome": "success", "tool_calls": 1}
    assert lazy["errors"] == [{"class": "no_call", "turn": None, "call": None, "tool": None,
                               "detail": lazy["errors"][0]["detail"]}]
    s = doc["summary"]
    assert s["n_runs"] == 2 and s["format_error_rate"] == 0.5 and s["clean_run_rate"] == 0.5
    assert s["finished_rate"] == 1.0 and s["pass_k"]["2"] is None  # NaN → null


def test_score_human_output_names_rates_classes_and_skipped_lines(export, capsys):
    assert main(["score", str(export)]) == 0
    out = capsys.readouterr().out
    assert "format-error rate 50.0%" in out and "clean-run rate 50.0%" in out
    assert "no_call" in out and "skipped line 2" in out and "verdict: legitimate" in out


def test_score_missing_file_is_a_one_line_user_error(tmp_path, capsys):
    assert main(["score", str(tmp_path / "nope.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "hermes sessions export" in err


def test_run_files_written_by_eval_are_re_scorable(tmp_path):
    from lanekit.agents.trace import AgentRun, Turn

    run = AgentRun(id="x#0", task_id="read_phrase", turns=[Turn(index=0, content="hi", finish_reason="stop")],
                   final_answer="hi", stop_reason="answered")
    path = write_runs(tmp_path / "runs.jsonl", [run])
    with path.open("a") as fh:
        fh.write("garbage\n")
    runs, skipped = read_runs(path)
    assert runs == [run] and [s.line for s in skipped] == [2]


def _fake_lane(monkeypatch, served_ctx=8192):
    from lanekit.lanes import registry

    rec = SimpleNamespace(base_url="http://lane:1/v1", model_id="fake-model", served_ctx=served_ctx)
    monkeypatch.setattr(registry, "find_live", lambda name: rec)


def test_eval_on_a_lane_runs_the_battery_and_prints_the_stable_json(monkeypatch, capsys, tmp_path):
    _fake_lane(monkeypatch)
    real = lanekit.agents.run_battery

    def fake_run_battery(base_url, model, battery, **kw):
        assert kw.get("stream") is True  # the loop asks for its replies streamed, as a real agent does
        chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": "no idea"}}]},
                  {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
        sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        transport = httpx.MockTransport(lambda req: httpx.Response(200, text=sse,
                                                                   headers={"content-type": "text/event-stream"}))
        return real(base_url, model, battery, transport=transport, **kw)

    monkeypatch.setattr(lanekit.agents, "run_battery", fake_run_battery)
    rc = main(["eval", "--lane", "l1", "--json", "--db", str(tmp_path / "r.sqlite"),
               "--save-runs", str(tmp_path / "runs.jsonl")])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    s = doc["summary"]
    assert s["agent"] == "builtin" and s["model"] == "fake-model" and s["lane"] == "l1"
    assert s["n_runs"] == 8 and s["format_error_rate"] == 1.0 and s["error_counts"]["no_call"] == 8
    assert len(read_runs(tmp_path / "runs.jsonl")[0]) == 8

    from lanekit.report.store import Store

    with Store(tmp_path / "r.sqlite") as store:
        (row,) = store.list_runs()
        assert row["kind"] == "eval"
        assert len(store.samples(row["run_id"], scenario="agent_run")) == 8


def test_eval_with_hermes_on_a_small_lane_says_hermes_will_refuse_it(monkeypatch, capsys):
    _fake_lane(monkeypatch, served_ctx=8192)
    assert main(["eval", "--lane", "l1", "--agent", "hermes", "--no-store"]) == 2
    err = capsys.readouterr().err
    assert "Hermes will refuse this lane" in err and "65536" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["eval"], "exactly one of --lane NAME or --url URL"),
    (["eval", "--lane", "a", "--url", "http://x/v1"], "exactly one"),
    (["eval", "--lane", "a", "--agent", "claude"], "--agent"),
    (["eval", "--lane", "a", "--battery", "nope"], "unknown battery"),
])
def test_eval_user_errors_are_one_line_with_a_fix(argv, message, monkeypatch, capsys):
    _fake_lane(monkeypatch)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_eval_on_a_lane_that_is_not_running(capsys):
    assert main(["eval", "--lane", "no-such-lane-here", "--no-store"]) == 2
    assert "no live lane" in capsys.readouterr().err


def test_served_context_is_probed_from_llama_server_props_or_vllm_models():
    from lanekit.agents.hermes import probe_served_ctx

    def llama(req):
        if req.url.path == "/props":
            return httpx.Response(200, json={"default_generation_settings": {"n_ctx": 65536}})
        return httpx.Response(404)

    def vllm(req):
        if req.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "m", "max_model_len": 40960}]})
        return httpx.Response(404, text="not found")

    assert probe_served_ctx("http://h/v1", transport=httpx.MockTransport(llama)) == 65536
    assert probe_served_ctx("http://h/v1", transport=httpx.MockTransport(vllm)) == 40960
    assert probe_served_ctx("http://h/v1", transport=httpx.MockTransport(lambda r: httpx.Response(500))) is None
