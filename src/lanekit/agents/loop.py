"""The built-in agent loop: OpenAI chat completions with `tools`, run against one battery task.

Public entry points:
    run_task(task, *, base_url, model, ...) -> AgentRun
    run_battery(base_url, model, battery, *, repeats=1, max_turns=8, task_timeout_s=120,
                max_tokens=512, progress=None, transport=None, temperature=None) -> list[AgentRun]

The loop is deliberately plain: send the conversation (through the endpoint client, streamed
like a real agent or not), execute any structured tool calls in a jailed workspace, stop at a
text answer, the turn limit or the per-task deadline. It never repairs the model's output (a call
written into the text ends the run, as it would in an OpenAI-style harness); failures are
recorded in the trace, never raised — except a dead or hung engine, which ends the battery with
`EndpointGone` instead of blaming the model for every remaining task.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from lanekit.agents.battery import Battery, Task
from lanekit.endpoint.client import SyncEndpointClient, v1_base
from lanekit.agents.taxonomy import classify_call
from lanekit.agents.tools import TOOL_SCHEMAS, TOOL_SPECS, ToolBox, Workspace
from lanekit.agents.trace import AgentRun, Turn
from lanekit.load.sink import Sink
from lanekit.load.watch import EndpointGone, Liveness, Watch

SYSTEM_PROMPT = (
    "You are an agent working inside a sandboxed workspace directory. Use the provided tools to "
    "read, search, list and write files, run allowlisted shell commands, or compute. Paths are "
    "relative to the workspace. Call tools through the tool-calling interface, one step at a time. "
    "When you have the answer, reply with it in plain text and do not call a tool."
)

Progress = Callable[[int, int, AgentRun], None]


def chat_url(base_url: str) -> str:
    """`…/v1/chat/completions` for a base URL given with or without the `/v1` suffix."""
    return v1_base(base_url) + "/chat/completions"


def _message_fields(msg: dict[str, Any]) -> tuple[str | None, str | None, list[Any]]:
    content = msg.get("content")
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    calls = msg.get("tool_calls") or []
    return content, reasoning if isinstance(reasoning, str) else None, calls if isinstance(calls, list) else [calls]


def _execute_calls(calls: list[Any], turn_index: int, toolbox: ToolBox) -> tuple[list[dict], list[dict]]:
    """Run each call; returns the sanitized assistant tool_calls and the tool result messages.

    Broken calls are answered with an error result so the model may correct itself; their
    arguments are replaced by `{}` in the history we send back, because chat templates that
    parse arguments would otherwise reject the whole request (the raw call stays in the Turn).
    """
    sent, results = [], []
    for i, call in enumerate(calls):
        call_id = call.get("id") if isinstance(call, dict) and call.get("id") else f"call_{turn_index}_{i}"
        name, args, problem = classify_call(call, TOOL_SCHEMAS)
        sent.append({"id": call_id, "type": "function",
                     "function": {"name": name or "", "arguments": json.dumps(args if args is not None else {})}})
        if problem is not None:
            result = f"error: {problem.detail}"
        else:
            result = toolbox.call(name or "", args or {})
        results.append({"role": "tool", "tool_call_id": call_id, "name": name or "", "content": result})
    return sent, results


def run_task(task: Task, *, base_url: str, model: str, battery: Battery | None = None, repeat: int = 0,
             max_turns: int = 8, task_timeout_s: float = 120, max_tokens: int = 512,
             client: SyncEndpointClient | None = None, transport: httpx.BaseTransport | None = None,
             api_key: str | None = None, system_prompt: str = SYSTEM_PROMPT,
             temperature: float | None = None, stream: bool = False, watch: Watch | None = None,
             clock: Callable[[], int] = time.monotonic_ns) -> AgentRun:
    """Drive `model` through one task and return its full trace (never raises for model faults).

    `temperature` None sends no sampling parameters, so the lane's own defaults apply, as they do
    for Hermes and other harnesses that send none (serve the model card's sampling on the lane).
    `stream` asks for the reply streamed, as a real agent does (tool-call deltas assembled).
    A dead engine (`watch`) sets `run.endpoint_gone`; `run_battery` then stops.
    """
    own_client = client is None
    if client is None:
        client = SyncEndpointClient(base_url, model, transport=transport, api_key=api_key)
    watch = watch or Watch()
    ws = Workspace.create(task.fixtures)
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt},
                                      {"role": "user", "content": task.prompt}]
    run = AgentRun(id=f"{task.id}#{repeat}", source="builtin", task_id=task.id, repeat=repeat, model=model,
                   base_url=base_url, battery=battery.ref if battery else None,
                   battery_sha256=battery.sha256 if battery else None, prompt=task.prompt,
                   tool_schemas=TOOL_SCHEMAS, started_at=time.time())
    run.notes.append("sampling: the lane's defaults" if temperature is None else f"sampling: temperature {temperature:g}")
    run.notes.append("streamed" if stream else "not streamed")
    start = clock()
    deadline = start + int(task_timeout_s * 1e9)
    try:
        toolbox = ToolBox(ws, deadline_ns=deadline, clock=clock)  # tool calls share the task's deadline
        for index in range(max_turns):
            remaining_s = (deadline - clock()) / 1e9
            if remaining_s <= 0:
                run.stop_reason = "timeout"
                break
            t0 = clock()
            rec = client.request(model=model, messages=messages, tools=TOOL_SPECS, tool_choice="auto",
                                 max_tokens=max_tokens, stream=stream, temperature=temperature,
                                 timeout_s=remaining_s)
            latency_ns = clock() - t0
            try:
                watch.after_sync(rec)
            except EndpointGone as exc:
                run.stop_reason, run.error, run.endpoint_gone = "error", exc.message, exc.message
                break
            if rec.error_kind == "timeout":
                run.stop_reason = "timeout"
                break
            if (rec.error is not None and rec.error_kind != "empty") or rec.reply is None:
                run.stop_reason, run.error = "error", (rec.error or "no reply")[:500]
                break
            reply = rec.reply
            content, reasoning, calls = _message_fields(reply.message())
            usage = reply.usage or {}
            turn = Turn(index=index, content=content, reasoning=reasoning, tool_calls=calls,
                        finish_reason=reply.finish_reason, prompt_tokens=_count(usage.get("prompt_tokens")),
                        completion_tokens=_count(usage.get("completion_tokens")), latency_ns=latency_ns,
                        ttft_ns=rec.ttft_ns if stream else None, started_ns=t0 - start)
            run.turns.append(turn)
            run.prompt_tokens += turn.prompt_tokens or 0
            run.completion_tokens += turn.completion_tokens or 0
            if turn.finish_reason == "length" or not calls:
                # a cut-off reply ends the run: its calls (if any) cannot be trusted to be whole
                messages.append({"role": "assistant", "content": content or ""})
                run.final_answer = content if content and content.strip() else None
                if turn.finish_reason == "length":
                    run.stop_reason = "length"
                else:
                    run.stop_reason = "answered" if run.final_answer else "empty"
                break
            sent, results = _execute_calls(calls, index, toolbox)
            messages.append({"role": "assistant", "content": content or "", "tool_calls": sent})
            messages.extend(results)
        else:
            run.stop_reason = "max_turns"
    finally:
        run.messages = messages
        if task.files:
            run.artifacts = ws.snapshot([f.path for f in task.files])
        ws.cleanup()
        run.wall_ns = clock() - start
        if own_client:
            client.close()
    return run


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def run_battery(base_url: str, model: str, battery: Battery, *, repeats: int = 1, max_turns: int = 8,
                task_timeout_s: float = 120, max_tokens: int = 512, progress: Progress | None = None,
                transport: httpx.BaseTransport | None = None, api_key: str | None = None,
                temperature: float | None = None, stream: bool = False, sink: Sink | None = None,
                alive: Liveness | None = None) -> list[AgentRun]:
    """Every task `repeats` times (task-major order) through the built-in loop.

    Each run goes to `sink` as it ends, and `progress(done, total, run)` is called. Runs that
    fail are recorded, not raised; an engine that died (`alive`) or stopped answering raises
    `EndpointGone` after the run it broke is recorded.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    total = len(battery.tasks) * repeats
    runs: list[AgentRun] = []
    watch = Watch(alive)
    with SyncEndpointClient(base_url, model, transport=transport, api_key=api_key) as client:
        for task in battery.tasks:
            for rep in range(repeats):
                watch.check()
                run = run_task(task, base_url=base_url, model=model, battery=battery, repeat=rep,
                               max_turns=max_turns, task_timeout_s=task_timeout_s, max_tokens=max_tokens,
                               client=client, temperature=temperature, stream=stream, watch=watch)
                runs.append(run)
                if sink is not None:
                    sink.sample("agent_run", run.model_dump(mode="json"))
                if progress is not None:
                    progress(len(runs), total, run)
                if run.endpoint_gone:
                    raise EndpointGone(run.endpoint_gone, fix="read the lane's log; the battery stopped here")
    return runs
