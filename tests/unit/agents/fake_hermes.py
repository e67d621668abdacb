"""A stand-in for the `hermes` CLI (hermes-agent 0.19 surface) for driver tests.

`hermes -z PROMPT -t TOOLSETS --usage-file F` stores one session in $HERMES_HOME/fake.jsonl and
behaves by prompt: reads notes/secret.txt from its cwd, writes out/greeting.txt, sleeps
("sleep"), or exits 1 without a session ("refuse"). `hermes sessions export PATH` writes the
JSONL. Every call appends its argv and the config it saw to $HERMES_HOME/calls.jsonl.
Mode "probe SECRET PORT" first tries what a hostile Hermes would (read SECRET, reach host
port PORT, rewrite its config, write beside its executable) and calls the lane's /models,
recording each outcome in $HERMES_HOME/probe.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

home = Path(os.environ["HERMES_HOME"])
store = home / "fake.jsonl"
args = sys.argv[1:]
with (home / "calls.jsonl").open("a") as fh:
    fh.write(json.dumps({"argv": args, "cwd": os.getcwd(), "home": os.environ.get("HOME"),
                         "env": dict(os.environ) if os.environ.get("FAKE_HERMES_MODE") == "env" else None,
                         "config": (home / "config.yaml").read_text()}) + "\n")


def _try(fn):
    try:
        return "OPEN: " + repr(fn())[:200]
    except Exception as exc:  # noqa: BLE001  (any failure is a refusal)
        return f"blocked: {type(exc).__name__}: {exc}"[:200]


def _probe(secret: str, port: int) -> dict:
    import re
    import socket
    import urllib.request

    config = (home / "config.yaml").read_text()
    # the lane's URL: `api:` of its provider (providers: schema), or an old-style `base_url:`
    base_url = re.search(r"(?:api|base_url): (\S+)", config).group(1)
    return {
        "lane": _try(lambda: urllib.request.urlopen(base_url + "/models", timeout=5).read().decode()),
        "read secret": _try(lambda: open(secret).read()),
        "host port": _try(lambda: socket.create_connection(("127.0.0.1", port), timeout=2)),
        "rewrite config": _try(lambda: (home / "config.yaml").write_text("model: {}")),
        "write beside the executable": _try(lambda: open(os.path.join(os.path.dirname(sys.argv[0]), "x"), "w")),
        "write HERMES_HOME": _try(lambda: (home / "scratch").write_text("ok")),
        "write HOME": _try(lambda: open(os.path.join(os.environ["HOME"], "scratch"), "w").write("ok")),
    }


mode = os.environ.get("FAKE_HERMES_MODE", "")
if mode.startswith("probe") and args[0] == "-z":
    _, secret, port = mode.split()
    (home / "probe.json").write_text(json.dumps(_probe(secret, int(port))))

if args[:2] == ["sessions", "export"]:
    Path(args[2]).write_text(store.read_text() if store.exists() else "")
    sys.exit(0)

if args[0] != "-z":
    sys.exit(2)
prompt = args[1]
usage = Path(args[args.index("--usage-file") + 1])
if "refuse" in os.environ.get("FAKE_HERMES_MODE", ""):
    print("ValueError: Model has a context window of 8,192 tokens, below the minimum 64,000", file=sys.stderr)
    sys.exit(1)
if "sleep" in os.environ.get("FAKE_HERMES_MODE", ""):
    time.sleep(30)
started = time.time()
msgs = [{"role": "user", "content": prompt, "timestamp": started}]


def call(name, arguments):
    return [{"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]


if "notes/secret.txt" in prompt:
    text = Path("notes/secret.txt").read_text()
    msgs += [{"role": "assistant", "content": "", "tool_calls": call("read_file", {"path": "notes/secret.txt"}),
              "finish_reason": "tool_calls", "timestamp": started + 0.1},
             {"role": "tool", "content": text, "tool_call_id": "c1", "tool_name": "read_file"},
             {"role": "assistant", "content": "The passphrase is violet-harbor-42.", "finish_reason": "stop"}]
elif "out/greeting.txt" in prompt:
    Path("out").mkdir(exist_ok=True)
    Path("out/greeting.txt").write_text("hello from lanekit")
    msgs += [{"role": "assistant", "content": "",
              "tool_calls": call("write_file", {"path": "out/greeting.txt", "content": "hello from lanekit"}),
              "finish_reason": "tool_calls"},
             {"role": "tool", "content": "ok", "tool_call_id": "c1", "tool_name": "write_file"},
             {"role": "assistant", "content": "It contains hello from lanekit", "finish_reason": "stop"}]
else:
    msgs += [{"role": "assistant", "content": "I don't know.", "finish_reason": "stop"}]
sid = f"s{time.time_ns()}"
with store.open("a") as fh:
    fh.write(json.dumps({"id": sid, "source": "cli", "model": "m", "started_at": started,
                         "ended_at": time.time(), "api_call_count": 2, "messages": msgs}) + "\n")
usage.write_text(json.dumps({"input_tokens": 10, "output_tokens": 5, "session_id": sid, "completed": True}))
print(msgs[-1]["content"])
