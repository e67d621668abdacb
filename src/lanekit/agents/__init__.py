"""Tool-call reliability: a task battery, a built-in agent loop, Hermes traces, a strict scorer.

Stable entry points (the bakeoff and the CLI call these):
    load_battery(name_or_path=None) -> Battery
    run_battery(base_url, model, battery, *, repeats=1, max_turns=8, task_timeout_s=120,
                max_tokens=512, progress=None) -> list[AgentRun]
    run_battery_hermes(base_url, model, battery, *, served_ctx, repeats=1, ...) -> list[AgentRun]
    score_runs(runs, battery=None) -> BatteryScore      # .summary, .runs, .to_json()
    parse_sessions_export(path) -> (list[AgentRun], list[SkippedLine])
"""

from __future__ import annotations

from lanekit.agents.battery import Battery, Task, load_battery
from lanekit.agents.hermes import ensure_hermes, run_battery_hermes
from lanekit.agents.loop import run_battery, run_task
from lanekit.agents.scoring import BatteryScore, RunScore, score_run, score_runs
from lanekit.agents.taxonomy import ERROR_CLASSES
from lanekit.agents.trace import AgentRun, Turn
from lanekit.agents.traces.hermes import SkippedLine, parse_sessions_export

__all__ = [
    "ERROR_CLASSES",
    "AgentRun",
    "Battery",
    "BatteryScore",
    "RunScore",
    "SkippedLine",
    "Task",
    "Turn",
    "ensure_hermes",
    "load_battery",
    "parse_sessions_export",
    "run_battery",
    "run_battery_hermes",
    "run_task",
    "score_run",
    "score_runs",
]
