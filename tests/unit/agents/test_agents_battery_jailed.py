"""The battery's allowed work still passes with every tool jailed: each core task, driven through
the real loop by a scripted model that makes the calls a good model makes, grades as a success."""

from __future__ import annotations

import json

import httpx
import pytest

from lanekit.agents import load_battery, run_task, score_runs

BATTERY = load_battery()

# task → the calls a good model makes; the scripted model then answers with the last result
CALLS = {
    "read_phrase": [("read_file", {"path": "notes/secret.txt"})],
    "count_lines": [("run_shell", {"command": "wc -l data/events.log"})],
    "create_then_read": [("write_file", {"path": "out/greeting.txt", "content": "hello from lanekit"}),
                         ("read_file", {"path": "out/greeting.txt"})],
    "shell_date": [("run_shell", {"command": "date -u -d @1700000000 +%F"})],
    "search_string": [("search", {"query": "rotate keys", "path": "src"})],
    "sum_numbers": [("run_shell", {"command": "cat data/amounts.txt | wc -l"}),
                    ("calculator", {"expression": "17 + 25 + 38 + 9 + 14"})],
    "list_dir": [("list_dir", {"path": "docs"})],
    "find_then_read": [("run_shell", {"command": "grep -rl port config | sort"}), ("read_file", {"path": "config/net.ini"})],
}


def scripted(task_id: str):
    calls = CALLS[task_id]

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        n = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if n < len(calls):
            name, args = calls[n]
            msg = {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"c{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]}
            finish = "tool_calls"
        else:
            last = body["messages"][-1]["content"]
            answer = json.dumps(last.splitlines()) if task_id == "list_dir" else f"The result: {last}"
            msg, finish = {"role": "assistant", "content": answer}, "stop"
        return httpx.Response(200, json={"choices": [{"index": 0, "message": msg, "finish_reason": finish}],
                                         "usage": {"prompt_tokens": 10, "completion_tokens": 5}})
    return httpx.MockTransport(handler)


def test_every_core_task_has_a_script():
    assert set(CALLS) == {t.id for t in BATTERY.tasks}


@pytest.mark.parametrize("task", BATTERY.tasks, ids=lambda t: t.id)
def test_the_allowed_task_passes_with_jailed_tools(task, jail):
    run = run_task(task, base_url="http://lane/v1", model="m", battery=BATTERY, transport=scripted(task.id))
    results = [m["content"] for m in run.messages if m["role"] == "tool"]
    assert not [r for r in results if r.startswith("error:")], results
    score = score_runs([run], BATTERY).runs[0]
    assert score.outcome == "success" and score.clean, (results, run.final_answer)
