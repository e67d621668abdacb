"""Hand-made traces for the scorer tests: one builder per shape a real lane produces."""

from __future__ import annotations

import json
from typing import Any

from lanekit.agents.tools import TOOL_SCHEMAS
from lanekit.agents.trace import AgentRun, Turn


def call(name: Any = "read_file", arguments: Any = None, call_id: str = "c1") -> dict[str, Any]:
    """An OpenAI tool call; `arguments` dict is JSON-encoded, a string is kept raw."""
    if arguments is None:
        arguments = {"path": "notes/secret.txt"}
    args = json.dumps(arguments) if isinstance(arguments, dict) else arguments
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def turn(index: int, content: str | None = None, calls: list | None = None, finish: str | None = None) -> Turn:
    finish = finish or ("tool_calls" if calls else "stop")
    return Turn(index=index, content=content, tool_calls=calls or [], finish_reason=finish,
                prompt_tokens=100, completion_tokens=20, latency_ns=1_000_000)


def run(turns: list[Turn], *, task_id: str = "read_phrase", final: str | None = "missing", stop: str = "answered",
        error: str | None = None, schemas: Any = "builtin", run_id: str = "r", repeat: int = 0,
        artifacts: dict | None = None) -> AgentRun:
    """An AgentRun; by default the final answer is the last turn's content."""
    if final == "missing":
        final = turns[-1].content if turns and not turns[-1].tool_calls else None
    return AgentRun(id=run_id, task_id=task_id, repeat=repeat, turns=turns, final_answer=final, stop_reason=stop,
                    error=error, tool_schemas=TOOL_SCHEMAS if schemas == "builtin" else schemas,
                    artifacts=artifacts, wall_ns=2_000_000_000)


def good_run(task_id: str = "read_phrase", answer: str = "The passphrase is violet-harbor-42.", **kw) -> AgentRun:
    """One well-formed call, then a correct answer."""
    return run([turn(0, calls=[call()]), turn(1, content=answer)], task_id=task_id, **kw)
