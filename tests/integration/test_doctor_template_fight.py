"""The template fight, measured: Qwen2.5-Coder-1.5B on llama-server, stock vs shipped template.

Stock: the model writes each call as a fenced ```json block in the text (0 structured).
`qwen2.5-coder-tools`: that fence is the template's tool-call delimiter → structured calls.
Set LANEKIT_TEMPLATE_N (default 5) for the full 20-request count.
"""

from __future__ import annotations

import json
import os

import httpx
import pytest

from lanekit.lanes import serve_lane
from lanekit.lanes.spec import parse_lane

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "read_file", "description": "Read a text file from the workspace",
     "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
    {"type": "function", "function": {"name": "run_shell", "description": "Run a shell command",
     "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}},
]
PROMPTS = [("What's the weather in Paris right now?", "get_weather"), ("Read the file notes.txt", "read_file"),
           ("Run `ls -la` in the workspace", "run_shell"), ("How warm is it in Tokyo today?", "get_weather"),
           ("Show me the contents of README.md", "read_file"), ("Check the disk usage with df -h", "run_shell"),
           ("Is it raining in London?", "get_weather"), ("Print the contents of config.yaml", "read_file"),
           ("Run `uname -a`", "run_shell"), ("Weather for Berlin please", "get_weather")]


def count_structured(template: str | None, n: int) -> tuple[int, int]:
    """(structured calls with the right tool and JSON arguments, requests)."""
    fields = {"name": f"fight-{template or 'stock'}", "model": "qwen2.5-coder-1.5b", "ctx": 4096, "threads": 2}
    if template:
        fields["chat_template_file"] = template
    good = 0
    with serve_lane(parse_lane(fields)) as lane, httpx.Client(timeout=600) as client:
        for prompt, want in (PROMPTS * 3)[:n]:
            body = {"model": lane.model_id, "messages": [{"role": "user", "content": prompt}], "tools": TOOLS,
                    "max_tokens": 128, "temperature": 0}
            msg = client.post(lane.base_url + "/chat/completions", json=body).json()["choices"][0]["message"]
            calls = msg.get("tool_calls") or []
            if calls and calls[0]["function"]["name"] == want:
                json.loads(calls[0]["function"]["arguments"])
                good += 1
    return good, n


def test_shipped_template_turns_text_calls_into_structured_calls(llama_server, qwen_path):
    n = int(os.environ.get("LANEKIT_TEMPLATE_N", "5"))
    stock, _ = count_structured(None, n)
    fixed, _ = count_structured("qwen2.5-coder-tools", n)
    print(f"\nQwen2.5-Coder-1.5B structured tool calls: stock {stock}/{n}, qwen2.5-coder-tools {fixed}/{n}")
    assert stock == 0
    assert fixed >= n - 1
