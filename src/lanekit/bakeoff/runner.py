"""Run a bakeoff: each lane, strictly one at a time, through
fit → guard → up → doctor → bench → eval → down (verified), recording every step in the store.

A lane failing at any step is recorded with the step and reason, torn down, and the bakeoff
moves on. Ctrl-C tears the current lane down and marks the run interrupted; rerunning the same
plan resumes it, skipping lanes already finished.
"""

from __future__ import annotations

import time
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lanekit.bakeoff.plan import BakeoffPlan
from lanekit.bakeoff.ranking import rank, verdict_line
from lanekit.bakeoff.sizing import hardware_fingerprint, lane_fit
from lanekit.errors import LanekitError
from lanekit.lanes import Lane
from lanekit.lanes.spec import LaneSpec

STEPS = ("fit", "guard", "up", "doctor", "bench", "eval", "down")


class BakeoffResult(BaseModel):
    run_id: str
    out_dir: str
    lanes: list[dict[str, Any]]
    verdict: str
    recommended: str | None
    resumed_lanes: list[str]
    elapsed_s: float
    measured_lanes: int = 0

    @property
    def nothing_measured(self) -> bool:
        """No lane completed its steps: the run produced no measurement to judge."""
        return self.measured_lanes == 0


class _Steps:
    """Progress + store bookkeeping for one lane's steps."""

    def __init__(self, store, run_id: str, lane: str, progress, task) -> None:
        self.store, self.run_id, self.lane, self.progress, self.task = store, run_id, lane, progress, task
        self.current = "fit"
        self.t0 = time.monotonic()

    def begin(self, step: str, what: str = "") -> None:
        self.current = step
        self.t0 = time.monotonic()
        self.store.set_lane_step(self.run_id, self.lane, step, "running", {"what": what})
        if self.progress is not None:
            self.progress.update(self.task, description=f"{self.lane}: {step}{' — ' + what if what else ''}")

    def end(self, status: str = "ok", **detail: Any) -> None:
        detail["elapsed_s"] = round(time.monotonic() - self.t0, 3)
        self.store.set_lane_step(self.run_id, self.lane, self.current, status, detail)
        if self.progress is not None:
            self.progress.advance(self.task)
            reason = detail.get("reason")
            text = f"{self.lane}: {self.current} {status} ({detail['elapsed_s']:.1f} s)"
            if isinstance(self.progress, _LineProgress):
                self.progress.line(text + (f": {reason}" if reason else ""))
            elif status == "failed":  # a live bar hides failures; say them on their own line
                self.progress.console.print(text + (f": {reason}" if reason else ""), markup=False,
                                            style="red", highlight=False)


class _LineProgress:
    """The progress view when stderr is not a terminal (a log file, `| tee`, CI): one plain line
    per finished step, with the run's elapsed time, instead of a live bar nobody sees."""

    def __init__(self, console, total: int) -> None:
        self.console, self.total, self.done, self.t0 = console, total, 0, time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, _description: str, total: int) -> int:
        self.total = total
        return 0

    def update(self, _task, description: str) -> None:
        return None

    def advance(self, _task, n: int = 1) -> None:
        self.done += n

    def line(self, text: str) -> None:
        m, sec = divmod(int(time.monotonic() - self.t0), 60)
        self.console.print(f"[{m:02d}:{sec:02d}] {self.done}/{self.total} {text}", markup=False, highlight=False,
                           soft_wrap=True)  # a log line is one line: grep must find it whole


def _lane_result_base(spec: LaneSpec) -> dict[str, Any]:
    return {"name": spec.name, "engine": spec.engine, "model": spec.model, "ctx": spec.ctx,
            "parallel": spec.parallel, "kv_dtype": spec.kv_dtype, "synthetic": spec.synthetic,
            "chat_template_file": getattr(spec, "chat_template_file", None),
            "spec": spec.model_dump(mode="json"), "failed_step": None, "failed_reason": None}


def _bench(lane: Lane, plan: BakeoffPlan, steps: _Steps, result: dict[str, Any]) -> None:
    from lanekit.load.scenarios import run_single, run_sustained, run_sweep

    common = {"store": steps.store, "run_id": steps.run_id, "lane": lane.spec.name}
    cfg = plan.bench
    if cfg.single:
        res = run_single(lane.base_url, lane.model_id, samples=cfg.single.samples, max_tokens=cfg.single.max_tokens,
                         warmup=cfg.single.warmup, **common)
        s = res.summary
        result["single"] = s
        result["decode_tok_s"] = s.get("decode_tok_s")
        result["ttft_ms"] = s.get("ttft_ms")
        result["server_decode_tok_s"] = s.get("server_decode_tok_s")
    if cfg.sustained:
        res = run_sustained(lane.base_url, lane.model_id, duration_s=cfg.sustained.duration_s,
                            interval_s=cfg.sustained.interval_s, max_tokens=cfg.sustained.max_tokens,
                            metrics_url=lane.metrics_url, metrics_prefix=lane.engine.metrics_prefix, **common)
        result["sustained"] = res.summary
        result["sustained_drift_pct"] = res.summary.get("drift_pct")
    if cfg.sweep:
        levels = [c for c in cfg.sweep.concurrency if c <= max(lane.spec.parallel, 1) * 2]
        res = run_sweep(lane.base_url, lane.model_id, concurrency=tuple(levels), max_tokens=cfg.sweep.max_tokens,
                        requests_per_level=cfg.sweep.requests_per_level, **common)
        result["sweep"] = res.summary


def _eval(lane: Lane, plan: BakeoffPlan, agent: str, steps: _Steps, result: dict[str, Any]) -> None:
    from lanekit.agents import load_battery, run_battery, score_runs

    battery = load_battery(plan.eval.battery)
    cfg = plan.eval
    if agent == "hermes":
        from lanekit.agents import run_battery_hermes
        from lanekit.agents.hermes import probe_served_ctx

        # what the server reports beats the spec: llama-server caps a slot at the training context
        served = probe_served_ctx(lane.base_url) or lane.engine.served_ctx(lane.spec)
        runs = run_battery_hermes(lane.base_url, lane.model_id, battery, served_ctx=served, repeats=cfg.repeats,
                                  task_timeout_s=cfg.task_timeout_s, max_tokens=cfg.max_tokens)
    else:
        runs = run_battery(lane.base_url, lane.model_id, battery, repeats=cfg.repeats, max_turns=cfg.max_turns,
                           task_timeout_s=cfg.task_timeout_s, max_tokens=cfg.max_tokens, temperature=cfg.temperature)
    for run in runs:
        steps.store.add_sample(steps.run_id, lane.spec.name, "agent_run", run.model_dump(mode="json"))
    score = score_runs(runs, battery)
    summary = dict(score.summary)
    result["unclean_runs"] = [{"task": r.task_id or r.id, "why": _why_unclean(r)} for r in score.runs if not r.clean]
    result["eval"] = summary
    result["agent"] = agent
    for key in ("format_error_rate", "clean_run_rate", "finished_rate", "task_success_rate", "tool_calls_per_run"):
        result[key] = summary.get(key)
    result["battery_sha256"] = getattr(battery, "sha256", None)
    result["n_agent_runs"] = len(runs)


def _why_unclean(score) -> str:
    """A few words on why one run is not clean: its stop, or its most frequent error class."""
    if score.errors:
        from collections import Counter

        cls, n = Counter(e.cls for e in score.errors).most_common(1)[0]
        return f"{cls}" + (f" ×{n}" if n > 1 else "")
    from lanekit.agents.scoring import LOOP_STREAK

    return {"max_turns": "turn limit (looping)" if score.repeat_streak >= LOOP_STREAK else "turn limit",
            "timeout": "time limit", "error": "harness error", "empty": "empty reply"}.get(score.stop_reason or "",
                                                                                         score.stop_reason or score.outcome)


def run_lane(spec: LaneSpec, plan: BakeoffPlan, store, run_id: str, *, agent: str, hw, progress=None,
             task=None) -> dict[str, Any]:
    """One lane through every step; returns its result dict (also stored as the lane summary)."""
    from lanekit.doctor import run_doctor

    steps = _Steps(store, run_id, spec.name, progress, task)
    result = _lane_result_base(spec)
    lane = Lane(spec)
    try:
        steps.begin("fit", "memory and roofline")
        result.update(lane_fit(spec, lane.engine, hw))
        steps.end(**{k: result.get(k) for k in ("total_bytes", "decode_ceiling_tok_s")})

        steps.begin("guard", "memory and port")
        lane.check()
        result["free_after_bytes"] = lane.free_after_bytes
        steps.end(free_after_bytes=lane.free_after_bytes)

        steps.begin("up", "launch and warm")
        lane.start()
        result["ready_s"] = lane.warm()
        result["engine_version"] = _engine_version(lane)
        steps.end(ready_s=result["ready_s"], pid=lane.record.pid, port=lane.port)

        steps.begin("doctor", "live checks")
        report = run_doctor(lane.base_url, lane.model_id, engine=spec.engine, metrics_url=lane.metrics_url)
        result["doctor_verdict"] = report.verdict
        result["doctor"] = report.model_dump(mode="json")
        result["doctor_failures"] = [c.name for c in report.checks if c.status == "fail"]
        result["doctor_fixes"] = [c.fix for c in report.checks if c.status == "fail" and c.fix]
        steps.end(report.verdict, failures=result["doctor_failures"])

        steps.begin("bench", "single, sustained, sweep")
        _bench(lane, plan, steps, result)
        ceiling = result.get("decode_ceiling_tok_s")
        if ceiling and result.get("decode_tok_s"):
            result["pct_of_ceiling"] = 100.0 * result["decode_tok_s"] / ceiling
        steps.end(decode_tok_s=result.get("decode_tok_s"))

        skip = (agent == "none" or result.get("synthetic")
                or (plan.eval.skip_on_doctor_fail and result.get("doctor_verdict") == "fail"))
        steps.begin("eval", "skipped" if skip else f"{agent} agent battery")
        if not skip:
            _eval(lane, plan, agent, steps, result)
        steps.end("skipped" if skip else "ok", format_error_rate=result.get("format_error_rate"))
    except KeyboardInterrupt:
        store.set_lane_step(run_id, spec.name, steps.current, "interrupted", {})
        raise
    except Exception as exc:  # a failed lane is data: record the step and reason, move on
        result["failed_step"] = steps.current
        result["failed_reason"] = exc.message if isinstance(exc, LanekitError) else f"{type(exc).__name__}: {exc}"
        result["failed_fix"] = getattr(exc, "fix", None)
        detail = {"reason": result["failed_reason"], "fix": result["failed_fix"],
                  "log_tail": getattr(exc, "log_tail", "")}
        if not isinstance(exc, LanekitError):
            detail["traceback"] = traceback.format_exc()
        steps.end("failed", **detail)
    finally:
        steps.begin("down", "teardown and verify")
        report = lane.stop()
        if report is not None:
            result["teardown"] = dict(report.model_dump(), mem_delta_bytes=report.mem_delta_bytes,
                                      verified=report.verified)
            steps.end("ok" if report.verified else "failed", verified=report.verified,
                      mem_delta_bytes=report.mem_delta_bytes)
            if not report.verified and not result["failed_step"]:
                result["failed_step"], result["failed_reason"] = "down", report.summary()
        else:
            steps.end("skipped")
    store.set_summary(run_id, spec.name, "lane", result)
    store.set_lane_step(run_id, spec.name, "done", "failed" if result["failed_step"] else "ok",
                        {"failed_step": result["failed_step"]})
    return result


def _engine_version(lane: Lane) -> str | None:
    import subprocess

    try:
        out = subprocess.run([lane.engine.binary(lane.spec), "--version"], capture_output=True, text=True, timeout=20)
        text = (out.stdout + out.stderr).strip().splitlines()
        return next((line for line in text if "version" in line.lower()), text[-1] if text else None)
    except Exception:
        return None


def _resumable_run(store, digest: str) -> str | None:
    for run in store.list_runs():
        meta = run.get("meta") or {}
        if run.get("kind") == "bakeoff" and meta.get("plan_digest") == digest and run.get("status") != "finished":
            return run["run_id"]
    return None


def finished_lanes(store, run_id: str) -> set[str]:
    return {s["lane"] for s in store.lane_steps(run_id) if s["step"] == "done"}


def run_bakeoff(plan: BakeoffPlan, *, out_dir: str | Path = "lanekit-profile", agent: str | None = None,
                store=None, resume: bool = True, console=None) -> BakeoffResult:
    """Run (or resume) a bakeoff, rank the lanes and write the profile directory."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from lanekit.report.profile import write_profile
    from lanekit.report.store import Store

    store = store or Store()
    agent = agent or plan.eval.agent
    specs = plan.lane_specs()
    digest = plan.digest()
    hw = hardware_fingerprint(plan.hardware)
    run_id = _resumable_run(store, digest) if resume else None
    resumed = sorted(finished_lanes(store, run_id)) if run_id else []
    if run_id is None:
        run_id = store.new_run("bakeoff", {"plan_digest": digest, "plan": plan.model_dump(mode="json"),
                                           "agent": agent, "hardware": hw})
    t0 = time.monotonic()
    progress = None
    if console is not None and console.is_terminal:
        progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=console,
                            transient=False)
    elif console is not None:
        progress = _LineProgress(console, len(specs) * len(STEPS))
    with progress if progress is not None else nullcontext():
        overall = progress.add_task("bakeoff", total=len(specs) * len(STEPS)) if progress else None
        for spec in specs:
            if spec.name in resumed:
                if progress:
                    progress.advance(overall, len(STEPS))
                    if isinstance(progress, _LineProgress):
                        progress.line(f"{spec.name}: finished in the interrupted run, skipped")
                continue
            try:
                run_lane(spec, plan, store, run_id, agent=agent, hw=hw, progress=progress, task=overall)
            except KeyboardInterrupt:
                store.finish_run(run_id, "interrupted")
                raise
    lanes = [s["summary"] for s in store.summaries(run_id) if s["scenario"] == "lane"]
    order = {s.name: i for i, s in enumerate(specs)}
    lanes.sort(key=lambda x: order.get(x["name"], 1 << 30))
    ranked = rank(lanes, plan.ranking)
    verdict = verdict_line(ranked)
    store.set_run_meta(run_id, {"plan_digest": digest, "plan": plan.model_dump(mode="json"), "agent": agent,
                                "hardware": hw, "verdict": verdict, "elapsed_s": time.monotonic() - t0})
    store.finish_run(run_id, "finished")
    out = write_profile(store, run_id, out_dir)
    best = next((x["name"] for x in ranked if x.get("recommended")), None)
    measured = sum(1 for x in ranked if x.get("failed_step") in (None, "down"))
    return BakeoffResult(run_id=run_id, out_dir=str(out), lanes=ranked, verdict=verdict, recommended=best,
                         resumed_lanes=resumed, elapsed_s=time.monotonic() - t0, measured_lanes=measured)
