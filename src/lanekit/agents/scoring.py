"""Score agent runs: classify every tool-call attempt, judge each run, reduce to battery rates.

Public entry point: `score_runs(runs, battery=None) -> BatteryScore` (battery None: the embedded
default; runs are matched to tasks by `task_id`, else by their prompt). Definitions:

- attempt: a structured tool call, a call written into the text, and — for a task that needs a
  tool — the call the agent owed but never made (no_call / no_output). Classes: `lanekit.agents.taxonomy`.
- truncated: a response cut off at the output cap (one per partial call, at least one) is not an
  attempt and not a format error — its calls could not be judged whole. The run is unclean and
  the error names the cap it hit (`truncated_at`); a run cut off before its owed call is not
  charged a no_call: the budget, not the format, stopped it.
- format_error_rate = failed attempts / attempts (NaN with no attempts). A lane that never
  calls a tool therefore scores 1.0, not a flattering 0.0. A run whose time ran out before the
  first reply is unmeasured: no attempt, no error class, outcome timeout.
- finished: the run ended on a text answer (not cut off, no timeout, no harness error).
- clean: finished and not a single error of any class.
- outcome: error (harness/transport failure, or nothing came back), timeout (wall clock or turn
  limit), success (finished and the answer checks pass; ungraded runs: finished and clean; never
  when a required tool was skipped: such an answer has no evidence behind it), grader_fail
  (everything else).
- pass^k = mean over tasks of C(c,k)/C(n,k) for n runs with c successes; NaN when any task
  has fewer than k runs.
- repeat_streak: the longest run of turns repeating one identical call; a timed-out run (wall
  clock or turn limit) with a streak ≥ 3 counts in `looping_runs`.
- verdict: legitimate (timeouts ≤ 10% of runs and fewer than grader fails: the score is what
  the model earned), capped (timeouts ≥ 25% of runs and at least as many as grader fails: the
  time budget set the score), borderline (in between).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from typing import Any, Literal

from pydantic import BaseModel, Field

from lanekit.agents.battery import Battery, Task, load_battery
from lanekit.agents.taxonomy import (
    ATTEMPT_CLASSES,
    ERROR_CLASSES,
    NO_CALL,
    NO_OUTPUT,
    TRUNCATED,
    Problem,
    calls_in_content,
    classify_call,
)
from lanekit.agents.taxonomy import CALL_IN_CONTENT as _IN_CONTENT
from lanekit.agents.trace import AgentRun

SCORE_SCHEMA_VERSION = 1
Outcome = Literal["success", "grader_fail", "timeout", "error"]
OUTCOMES: tuple[Outcome, ...] = ("success", "grader_fail", "timeout", "error")
LOOP_STREAK = 3  # the same call (name and arguments) this many turns in a row is a loop


class CallError(BaseModel):
    """One classified failure. `cls` is a taxonomy class; `turn`/`call` locate it in the trace."""

    cls: str
    turn: int | None = None
    call: int | None = None
    tool: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"class": self.cls, "turn": self.turn, "call": self.call, "tool": self.tool, "detail": self.detail}


class RunScore(BaseModel):
    """The verdict on one run."""

    id: str
    task_id: str | None = None
    source: str = "builtin"
    repeat: int = 0
    attempts: int = 0
    tool_calls: int = 0
    format_errors: int = 0
    errors: list[CallError] = Field(default_factory=list)
    finished: bool = False
    clean: bool = False
    answer_correct: bool | None = None
    expected_tool_used: bool | None = None
    outcome: Outcome = "error"
    matched_task: bool = False
    repeat_streak: int = 0
    stop_reason: str | None = None
    wall_ns: int = 0
    truncated: int = 0
    truncated_at: int | None = Field(None, description="tokens of the longest cut-off response (the cap it hit)")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "task_id": self.task_id, "clean": self.clean, "finished": self.finished,
                "outcome": self.outcome, "answer_correct": self.answer_correct, "tool_calls": self.tool_calls,
                "attempts": self.attempts, "stop_reason": self.stop_reason, "repeat_streak": self.repeat_streak,
                "truncated": self.truncated, "truncated_at": self.truncated_at,
                "errors": [e.to_json() for e in self.errors]}


class BatteryScore(BaseModel):
    """All run scores plus the summary dict (rates, pass^k, verdict)."""

    runs: list[RunScore]
    summary: dict[str, Any]

    def to_json(self, skipped_lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The stable JSON document `lanekit score --json` prints."""
        return {"runs": [r.to_json() for r in self.runs], "summary": self.summary,
                "skipped_lines": list(skipped_lines or [])}


def _expected_tools(task: Task, source: str) -> set[str]:
    if source == "hermes":
        from lanekit.agents.traces.hermes import HERMES_TOOL_EQUIVALENTS

        return {h for t in task.expected_tools for h in HERMES_TOOL_EQUIVALENTS.get(t, ())}
    return set(task.expected_tools)


def score_run(run: AgentRun, task: Task | None = None) -> RunScore:
    """Classify every attempt in `run` and judge it; `task` (if known) grades the answer."""
    names = set(run.tool_schemas) if run.tool_schemas is not None else None
    errors: list[CallError] = []
    attempts = tool_calls = failed = content_calls = truncated = 0
    truncated_at: int | None = None
    used: set[str] = set()
    streak = best_streak = 0
    previous: str | None = None
    for turn in run.turns:
        signature = json.dumps([c.get("function") if isinstance(c, dict) else c for c in turn.tool_calls],
                               sort_keys=True, default=str) if turn.tool_calls else None
        streak = streak + 1 if signature is not None and signature == previous else (1 if signature else 0)
        best_streak, previous = max(best_streak, streak), signature
        if turn.finish_reason == "length":
            n = max(1, len(turn.tool_calls))
            truncated, tool_calls = truncated + n, tool_calls + len(turn.tool_calls)
            cap = turn.completion_tokens
            truncated_at = max(truncated_at or 0, cap) if cap is not None else truncated_at
            at = f"at {cap} tokens" if cap is not None else "at the token limit"
            errors += [CallError(cls=TRUNCATED, turn=turn.index, call=i if turn.tool_calls else None,
                                 detail=f"finish_reason=length: cut off {at} (the output cap)") for i in range(n)]
            continue
        for i, call in enumerate(turn.tool_calls):
            attempts, tool_calls = attempts + 1, tool_calls + 1
            name, _args, problem = classify_call(call, run.tool_schemas)
            if problem is None:
                used.add(name or "")
                continue
            failed += 1
            errors.append(CallError(cls=problem.cls, turn=turn.index, call=i, tool=name, detail=problem.detail))
        if not turn.tool_calls:
            for detail in calls_in_content(turn.content, names):
                attempts, failed, content_calls = attempts + 1, failed + 1, content_calls + 1
                errors.append(CallError(cls=_IN_CONTENT, turn=turn.index, detail=detail))
    requires_tool = task.requires_tool if task is not None else None
    produced = any((t.content or "").strip() or t.tool_calls for t in run.turns)
    run_problem: Problem | None = None
    if not produced and run.stop_reason in ("timeout", "max_turns"):
        pass  # the budget ran out before the first reply: unmeasured, counted as a timeout only
    elif not produced:
        run_problem = Problem(NO_OUTPUT, run.error or "no assistant text and no tool call")
    elif requires_tool and tool_calls == 0 and not content_calls and not truncated:
        run_problem = Problem(NO_CALL, "the task needs a tool and the agent answered without calling one")
    if run_problem is not None:
        errors.append(CallError(cls=run_problem.cls, detail=run_problem.detail))
        if requires_tool:  # the owed call counts as one failed attempt
            attempts, failed = attempts + 1, failed + 1
    skipped_tool = run_problem is not None and run_problem.cls == NO_CALL
    finished = run.stop_reason == "answered" and bool((run.final_answer or "").strip()) and run.error is None
    clean = finished and not errors
    correct = task.grade(run.final_answer, run.artifacts) if task is not None else None
    expected = _expected_tools(task, run.source) if task is not None else set()
    if run.stop_reason == "error":
        outcome: Outcome = "error"
    elif run.stop_reason in ("timeout", "max_turns"):
        outcome = "timeout"
    elif not run.turns:
        outcome = "error"
    elif finished and (correct is True or (correct is None and clean)) and not skipped_tool:
        outcome = "success"
    else:
        outcome = "grader_fail"
    return RunScore(id=run.id, task_id=task.id if task else run.task_id, source=run.source, repeat=run.repeat,
                    attempts=attempts, tool_calls=tool_calls, format_errors=failed, errors=errors,
                    finished=finished, clean=clean, answer_correct=correct,
                    expected_tool_used=bool(used & expected) if expected else None,
                    outcome=outcome, matched_task=task is not None, repeat_streak=best_streak,
                    stop_reason=run.stop_reason, wall_ns=run.wall_ns, truncated=truncated, truncated_at=truncated_at)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Probability that k runs drawn without replacement from n (c successful) all succeed."""
    if k < 1 or n < k:
        return math.nan
    return math.comb(c, k) / math.comb(n, k)


def pass_k_table(per_task: dict[str, tuple[int, int]], k_max: int) -> dict[str, float]:
    """pass^k for k = 1..k_max, mean over tasks; NaN when any task has fewer than k runs."""
    table = {}
    for k in range(1, k_max + 1):
        values = [pass_hat_k(n, c, k) for n, c in per_task.values()]
        table[str(k)] = math.nan if not values or any(math.isnan(v) for v in values) else sum(values) / len(values)
    return table


def battery_verdict(n_runs: int, timeouts: int, grader_fails: int, turn_limited: int = 0,
                    looping: int = 0) -> tuple[str | None, str]:
    """legitimate / borderline / capped from the timeout share versus grader fails, with the reason.

    `turn_limited` of the timeouts hit the turn limit rather than the wall clock, `looping` of the
    timeouts repeated one identical call: the reason says so, since a bigger budget will not help.
    """
    if n_runs == 0:
        return None, "no runs"
    share = timeouts / n_runs
    wall = timeouts - turn_limited
    detail = f"{wall} at the time limit, {turn_limited} at the turn limit" + (
        f"; {looping} repeating one identical call" if looping else "")
    if timeouts == 0 or (share <= 0.10 and timeouts < grader_fails):
        return "legitimate", f"{timeouts}/{n_runs} runs timed out; failures are the model's answers"
    if share >= 0.25 and timeouts >= grader_fails:
        hint = ("the agent loops: a bigger budget will not help, fix the model/template" if 2 * looping >= timeouts
                else "raise --task-timeout/--max-turns or use a faster lane")
        return "capped", (f"{timeouts}/{n_runs} runs timed out ({detail}; grader fails {grader_fails}): the budget, "
                          f"not graded answers, set this score; {hint}")
    return "borderline", f"{timeouts}/{n_runs} runs timed out ({detail}) against {grader_fails} grader fails"


def _rate(num: float, den: float) -> float:
    return num / den if den else math.nan


def summarize(scores: list[RunScore], runs: list[AgentRun], battery: Battery | None) -> dict[str, Any]:
    """The summary dict: counts, rates, pass^k, error counts by class, outcomes, verdict."""
    n = len(scores)
    outcomes = Counter(s.outcome for s in scores)
    error_counts = Counter(e.cls for s in scores for e in s.errors)
    attempts = sum(s.attempts for s in scores)
    failed = sum(s.format_errors for s in scores)
    per_task: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for s in scores:
        if s.matched_task and s.task_id is not None:
            tn, tc = per_task[s.task_id]
            per_task[s.task_id] = (tn + 1, tc + (s.outcome == "success"))
    k_max = max([2] + [tn for tn, _ in per_task.values()])
    graded = [s for s in scores if s.answer_correct is not None]
    expected = [s for s in scores if s.expected_tool_used is not None]
    turn_limited = sum(s.stop_reason == "max_turns" for s in scores)
    looping = sum(s.outcome == "timeout" and s.repeat_streak >= LOOP_STREAK for s in scores)
    verdict, reason = battery_verdict(n, outcomes["timeout"], outcomes["grader_fail"], turn_limited, looping)
    return {
        "schema_version": SCORE_SCHEMA_VERSION,
        "battery": battery.ref if battery else None,
        "battery_sha256": battery.sha256 if battery else None,
        "run_battery_sha256": sorted({r.battery_sha256 for r in runs if r.battery_sha256}),
        "n_runs": n,
        "n_tasks": len({s.task_id for s in scores if s.task_id}),
        "attempts": attempts,
        "tool_calls": sum(s.tool_calls for s in scores),
        "format_errors": failed,
        "format_error_rate": _rate(failed, attempts),
        "clean_run_rate": _rate(sum(s.clean for s in scores), n),
        "finished_rate": _rate(sum(s.finished for s in scores), n),
        "task_success_rate": _rate(outcomes["success"], n),
        "graded_runs": len(graded),
        "answer_accuracy": _rate(sum(bool(s.answer_correct) for s in graded), len(graded)),
        "expected_tool_rate": _rate(sum(bool(s.expected_tool_used) for s in expected), len(expected)),
        "tool_calls_per_run": _rate(sum(s.tool_calls for s in scores), n),
        "pass_k": pass_k_table(dict(per_task), k_max),
        "error_counts": {cls: error_counts.get(cls, 0) for cls in ERROR_CLASSES},
        "attempt_error_counts": {cls: error_counts.get(cls, 0) for cls in ATTEMPT_CLASSES},
        "outcomes": {o: outcomes.get(o, 0) for o in OUTCOMES},
        "turn_limited_runs": turn_limited,
        "looping_runs": looping,
        "verdict": verdict,
        "verdict_reason": reason,
        "prompt_tokens": sum(r.prompt_tokens for r in runs),
        "completion_tokens": sum(r.completion_tokens for r in runs),
        "mean_run_s": _rate(sum(s.wall_ns for s in scores) / 1e9, n),
        "no_call_runs": error_counts.get(NO_CALL, 0),
        "no_output_runs": error_counts.get(NO_OUTPUT, 0),
        "truncated": sum(s.truncated for s in scores),
        "truncated_runs": sum(1 for s in scores if s.truncated),
        "truncation_cap_tokens": max((s.truncated_at for s in scores if s.truncated_at is not None), default=None),
    }


def score_runs(runs: list[AgentRun], battery: Battery | None = None) -> BatteryScore:
    """Score every run against `battery` (default: the embedded battery) and summarize."""
    battery = battery or load_battery()
    scores = []
    for run in runs:
        task = battery.task(run.task_id) if run.task_id else None
        if task is None:
            task = battery.match_prompt(run.prompt)
        scores.append(score_run(run, task))
    return BatteryScore(runs=scores, summary=summarize(scores, runs, battery))
