"""Run a bakeoff: each lane, strictly one at a time, through
fit → guard → up → doctor → bench → eval → down (verified), building its `LaneResult` as each
step ends and recording every step in the store.

A lane failing at any step is recorded with the step and reason, torn down, and the bakeoff moves
on; an engine that dies mid-step fails that step at once with its exit status and log tail. One
bakeoff runs per LANEKIT_HOME (a second refuses, or waits with `wait=True`); orphans a killed
bakeoff left running are stopped first. Ctrl-C tears the current lane down and marks the run
interrupted; rerunning the same plan resumes it, skipping finished lanes; a lane that was
interrupted runs again as a new attempt, its old samples kept but never mixed in.
"""

from __future__ import annotations

import time
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from lanekit.bakeoff.plan import BakeoffPlan
from lanekit.bakeoff.progress import LineProgress, StepProgress, live_progress
from lanekit.bakeoff.sizing import hardware_fingerprint, lane_fit
from lanekit.errors import LanekitError
from lanekit.lanes import Lane
from lanekit.lanes.spec import LaneSpec
from lanekit.results.models import (
    BakeoffReport,
    DoctorOutcome,
    EvalOutcome,
    Failure,
    JudgedWith,
    LaneResult,
    Launch,
    StepRecord,
    TeardownOutcome,
    UncleanRun,
)

STEPS = ("fit", "guard", "up", "doctor", "bench", "eval", "down")


def steps_of(plan: BakeoffPlan) -> tuple[str, ...]:
    """The steps every lane of `plan` goes through (`quality` only when the plan asks for it)."""
    return (*STEPS, "quality") if plan.quality is not None else STEPS


class _LaneSteps:
    """Bookkeeping for one lane: the current step, its record in the store and the progress view."""

    def __init__(self, store, run_id: str, result: LaneResult, progress: StepProgress | None) -> None:
        self.store, self.run_id, self.result, self.progress = store, run_id, result, progress
        self.current = "fit"
        self.t0 = time.monotonic()

    def begin(self, step: str, what: str = "") -> None:
        self.current, self.t0 = step, time.monotonic()
        self.store.set_lane_step(self.run_id, self.result.name, step, "running",
                                 {"what": what, "attempt": self.result.attempt})
        if self.progress is not None:
            self.progress.begin(self.result.name, step, what)

    def end(self, status: str = "ok", **detail: Any) -> None:
        elapsed = round(time.monotonic() - self.t0, 3)
        detail = {k: v for k, v in detail.items() if v is not None}
        self.result.steps.append(StepRecord(step=self.current, status=status, elapsed_s=elapsed, detail=detail))
        self.store.set_lane_step(self.run_id, self.result.name, self.current, status,
                                 {**detail, "elapsed_s": elapsed, "attempt": self.result.attempt})
        if self.progress is not None:
            self.progress.end(self.result.name, self.current, status, elapsed, detail.get("reason"))


def _new_result(spec: LaneSpec, attempt: int) -> LaneResult:
    return LaneResult(name=spec.name, engine=spec.engine, model=spec.model, ctx=spec.ctx, parallel=spec.parallel,
                      kv_dtype=spec.kv_dtype, synthetic=spec.synthetic,
                      chat_template_file=getattr(spec, "chat_template_file", None),
                      spec=spec.model_dump(mode="json"), attempt=attempt, started_at=time.time())


def _served_ctx(lane: Lane, result: LaneResult) -> int | None:
    # what the server reports beats the spec: llama-server caps a slot at the training context
    return (result.launch.served_ctx if result.launch else None) or lane.engine.served_ctx(lane.spec)


def _bench(lane: Lane, plan: BakeoffPlan, sink, result: LaneResult) -> None:
    """The agent's workload first (the trace replayed, the headline), then long-context cold/warm
    TTFT and decode, then the diagnostics (single, sustained, sweep)."""
    from lanekit.load.scenarios import run_depth, run_single, run_sustained, run_sweep
    from lanekit.results.stats import bootstrap

    cfg = plan.bench
    common = {"sink": sink, "alive": lane.death_reason, "timeout_s": cfg.timeout_s}
    if cfg.replay:
        from lanekit.agents.traces.workload import read_trace
        from lanekit.load.replay import run_replay

        rc = cfg.replay
        result.bench.replay = run_replay(lane.base_url, lane.model_id, read_trace(rc.trace), mode=rc.mode,
                                         repeats=rc.repeats, pin_output=rc.pin_output, honour_delays=rc.delays,
                                         time_scale=rc.time_scale, **common).summary
    if cfg.context:
        cc = cfg.context
        result.bench.context = run_depth(lane.base_url, lane.model_id, depths=tuple(cc.resolved_depths()),
                                         samples=cc.samples, warm=cc.warm, max_tokens=cc.max_tokens,
                                         max_ctx=_served_ctx(lane, result), **common).summary
    if cfg.single:
        single = run_single(lane.base_url, lane.model_id, samples=cfg.single.samples,
                            max_tokens=cfg.single.max_tokens, warmup=cfg.single.warmup, **common)
        result.bench.single = single.summary
        valid = [x for x in single.samples if x.get("error") is None and not x.get("short")]
        result.bench.intervals["decode_tok_s"] = bootstrap([x.get("decode_tok_s") for x in valid])
        result.bench.intervals["ttft_ms"] = bootstrap([x["ttft_ns"] / 1e6 for x in valid if x.get("ttft_ns")])
    if cfg.sustained:
        result.bench.sustained = run_sustained(
            lane.base_url, lane.model_id, duration_s=cfg.sustained.duration_s, interval_s=cfg.sustained.interval_s,
            max_tokens=cfg.sustained.max_tokens, metrics_url=lane.metrics_url,
            metrics_prefix=lane.engine.metrics_prefix, **common).summary
    if cfg.sweep:
        levels = [c for c in cfg.sweep.concurrency if c <= max(lane.spec.parallel, 1) * 2]
        result.bench.sweep = run_sweep(lane.base_url, lane.model_id, concurrency=tuple(levels),
                                       max_tokens=cfg.sweep.max_tokens,
                                       requests_per_level=cfg.sweep.requests_per_level, **common).summary


def _eval(lane: Lane, plan: BakeoffPlan, agent: str, sink, result: LaneResult) -> None:
    from lanekit.agents import load_battery, run_battery, score_runs

    battery = load_battery(plan.eval.battery)
    cfg = plan.eval
    served = _served_ctx(lane, result)
    if agent == "hermes":
        from lanekit.agents import run_battery_hermes

        runs = run_battery_hermes(lane.base_url, lane.model_id, battery, served_ctx=served, repeats=cfg.repeats,
                                  task_timeout_s=cfg.task_timeout_s, max_tokens=cfg.max_tokens)
        for run in runs:
            sink.sample("agent_run", run.model_dump(mode="json"))
    else:  # streamed, as a real agent asks for its replies
        runs = run_battery(lane.base_url, lane.model_id, battery, repeats=cfg.repeats, max_turns=cfg.max_turns,
                           task_timeout_s=cfg.task_timeout_s, max_tokens=cfg.max_tokens, temperature=cfg.temperature,
                           stream=True, sink=sink, alive=lane.death_reason)
    score = score_runs(runs, battery)
    result.eval = EvalOutcome(agent=agent, battery_sha256=getattr(battery, "sha256", None), n_runs=len(runs),
                              summary=dict(score.summary), intervals=eval_intervals(score.runs),
                              unclean_runs=[UncleanRun(task=r.task_id or r.id, why=_why_unclean(r))
                                            for r in score.runs if not r.clean])
    result.judged = JudgedWith(served_ctx=served, max_tokens=cfg.max_tokens, max_turns=cfg.max_turns,
                               task_timeout_s=cfg.task_timeout_s, temperature=cfg.temperature, agent=agent,
                               sampling=(lane.spec.sampling.model_dump(exclude_none=True)
                                         if getattr(lane.spec, "sampling", None) else None),
                               stream=True)


def eval_intervals(scores) -> dict:
    """Wilson intervals of the battery's rates and the seconds per successful task, from run scores."""
    from lanekit.results.stats import ratio_bootstrap, wilson

    n = len(scores)
    attempts = sum(s.attempts for s in scores)
    return {"format_error_rate": wilson(sum(s.format_errors for s in scores), attempts),
            "clean_run_rate": wilson(sum(s.clean for s in scores), n),
            "task_success_rate": wilson(sum(s.outcome == "success" for s in scores), n),
            "s_per_success": ratio_bootstrap([s.wall_ns / 1e9 for s in scores],
                                             [1.0 if s.outcome == "success" else 0.0 for s in scores])}


def _why_unclean(score) -> str:
    """A few words on why one run is not clean: its stop, or its most frequent error class."""
    if score.errors:
        from collections import Counter

        cls, n = Counter(e.cls for e in score.errors).most_common(1)[0]
        if cls == "truncated" and score.truncated_at:
            return f"truncated at the {score.truncated_at}-token cap" + (f" ×{n}" if n > 1 else "")
        return f"{cls}" + (f" ×{n}" if n > 1 else "")
    from lanekit.agents.scoring import LOOP_STREAK

    return {"max_turns": "turn limit (looping)" if score.repeat_streak >= LOOP_STREAK else "turn limit",
            "timeout": "time limit", "error": "harness error", "empty": "empty reply"}.get(score.stop_reason or "",
                                                                                         score.stop_reason or score.outcome)


def _quality(spec: LaneSpec, plan: BakeoffPlan, lane: Lane, result: LaneResult, steps: _LaneSteps,
             base: str | None) -> None:
    """The plan's `quality:` step: PPL (and KLD/top-1 against the model's highest-precision lane)."""
    from lanekit.quality import run_quality, target_from_spec

    steps.begin("quality", "perplexity" + (f", KLD vs {Path(base).name}" if base else ""))
    try:
        cfg = plan.quality.model_copy(update={"base": plan.quality.base or base})
        served = result.launch.served_ctx if result.launch else None
        target = target_from_spec(spec, base_url=lane.base_url if lane.record else None, model_id=lane.model_id,
                                  served_ctx=served)
        result.quality = run_quality(target, cfg)
        steps.end(ppl=round(result.quality.ppl.ppl, 4),
                  kld=result.quality.kld.kld_mean if result.quality.kld else None)
    except LanekitError as exc:  # a failed measurement is data
        steps.end("failed", reason=exc.message, fix=exc.fix)
        result.notes.append(f"quality not measured: {exc.message}")


def quality_bases(plan: BakeoffPlan, specs: list[LaneSpec]) -> dict[str, str | None]:
    """Per llama.cpp lane, the base its KLD is measured against: the highest-precision GGUF among
    the plan's lanes with the same tokenizer (None when it is the only file of its model)."""
    if plan.quality is None:
        return {}
    from lanekit.lanes.embedded import resolve_model_file
    from lanekit.quality.gguf_runs import gguf_facts, pick_base

    facts = {}
    for spec in specs:
        if spec.engine == "llamacpp":
            try:
                facts[spec.name] = gguf_facts(Path(resolve_model_file(spec.model)))
            except (LanekitError, OSError, ValueError):
                continue
    bases: dict[str, str | None] = {}
    for name, fact in facts.items():
        same = {str(f.path): f for f in facts.values() if f.tokenizer_sig == fact.tokenizer_sig}
        bases[name] = str(pick_base(list(same.values())).path) if len(same) > 1 else None
    return bases


def run_lane(spec: LaneSpec, plan: BakeoffPlan, store, run_id: str, *, agent: str, hw,
             progress: StepProgress | None = None, quality_base: str | None = None) -> LaneResult:
    """One lane through every step; returns its result (also stored as the lane's summary)."""
    from lanekit.doctor import run_doctor
    from lanekit.locks import measuring
    from lanekit.report.store import StoreSink

    result = _new_result(spec, store.next_attempt(run_id, spec.name))
    sink = StoreSink(store, run_id, spec.name, result.attempt)
    steps = _LaneSteps(store, run_id, result, progress)
    lane = Lane(spec, owner_kind="bakeoff", run_id=run_id, stop_orphan=True)
    try:
        steps.begin("fit", "memory and roofline")
        result.sizing = lane_fit(spec, lane.engine, hw)
        result.synthetic = result.synthetic or result.sizing.synthetic
        steps.end(total_bytes=result.sizing.total_bytes, decode_ceiling_tok_s=result.sizing.decode_ceiling_tok_s)

        steps.begin("guard", "memory, port, build")
        lane.check()
        result.sizing.free_after_bytes = lane.free_after_bytes
        steps.end(free_after_bytes=lane.free_after_bytes)

        steps.begin("up", "launch and warm")
        lane.start()
        ready_s = lane.warm()
        rec = lane.record
        result.launch = Launch(ready_s=ready_s, engine_version=_engine_version(lane), pid=rec.pid, port=lane.port,
                               served_ctx=rec.served_ctx, served_ctx_source=rec.served_ctx_source,
                               orphan_stopped=lane.orphan_report.summary() if lane.orphan_report else None)
        if rec.ctx_warning():
            result.notes.append(f"{spec.name} {rec.ctx_warning()}")
        steps.end(ready_s=ready_s, pid=rec.pid, port=lane.port)
        from lanekit.lanes.footprint import footprint_row

        result.launch.footprint = footprint_row(lane)  # estimate vs what the engine really holds

        with measuring(lane.base_url, f"lanekit bakeoff {plan.name} ({spec.name})", run_id=run_id):
            steps.begin("doctor", "live checks")
            lane.require_alive()
            report = run_doctor(lane.base_url, lane.model_id, engine=spec.engine, metrics_url=lane.metrics_url,
                                timeout_s=plan.bench.timeout_s)
            lane.require_alive()  # a doctor that killed the engine must not read as the model's fault
            result.doctor = DoctorOutcome(verdict=report.verdict, report=report.model_dump(mode="json"),
                                          failures=[c.name for c in report.checks if c.status == "fail"],
                                          fixes=list(dict.fromkeys(c.fix for c in report.checks if c.status == "fail" and c.fix)))
            steps.end(report.verdict, failures=result.doctor.failures)

            steps.begin("bench", ", ".join(k for k in ("replay", "context", "single", "sustained", "sweep")
                                           if getattr(plan.bench, k)))
            _bench(lane, plan, sink, result)
            lane.require_alive()
            steps.end(turn_s=result.turn_s.point if result.turn_s else None, decode_tok_s=result.decode_tok_s)

            skip = (agent == "none" or result.synthetic
                    or (plan.eval.skip_on_doctor_fail and result.doctor_verdict == "fail"))
            steps.begin("eval", "skipped" if skip else f"{agent} agent battery")
            if not skip:
                _eval(lane, plan, agent, sink, result)
                lane.require_alive()
            steps.end("skipped" if skip else "ok", format_error_rate=result.rate("format_error_rate"))
            if plan.quality is not None and spec.engine != "llamacpp":  # prompt log-probs need the live lane
                _quality(spec, plan, lane, result, steps, quality_base)
    except KeyboardInterrupt:
        store.set_lane_step(run_id, spec.name, steps.current, "interrupted", {"attempt": result.attempt})
        raise
    except Exception as exc:  # a failed lane is data: record the step and reason, move on
        reason = exc.message if isinstance(exc, LanekitError) else f"{type(exc).__name__}: {exc}"
        result.failure = Failure(step=steps.current, reason=reason, fix=getattr(exc, "fix", None),
                                 log_tail=getattr(exc, "log_tail", "") or lane.log_tail())
        detail = {"reason": reason, "fix": result.failure.fix, "log_tail": result.failure.log_tail}
        if not isinstance(exc, LanekitError):
            detail["traceback"] = traceback.format_exc()
        steps.end("failed", **detail)
    finally:
        steps.begin("down", "teardown and verify")
        report = lane.stop()
        if report is not None:
            result.teardown = TeardownOutcome(stop_s=report.stop_s, forced_kill=report.forced_kill,
                                              port_closed=report.port_closed, processes_gone=report.processes_gone,
                                              survivors=report.survivors, memory_back=report.memory_back,
                                              verified=report.verified, mem_delta_bytes=report.mem_delta_bytes,
                                              summary=report.summary())
            steps.end("ok" if report.verified else "failed", verified=report.verified,
                      mem_delta_bytes=report.mem_delta_bytes)
            if not report.verified and result.failure is None:
                result.failure = Failure(step="down", reason=report.summary())
        else:
            steps.end("skipped")
    if plan.quality is not None and spec.engine == "llamacpp" and result.measured:
        _quality(spec, plan, lane, result, steps, quality_base)  # on the GGUF, after teardown: one copy in memory
    result.finished_at = time.time()
    store.set_summary(run_id, spec.name, "lane", result.model_dump(mode="json"))
    store.set_lane_step(run_id, spec.name, "done", "failed" if result.failure else "ok",
                        {"failed_step": result.failed_step, "attempt": result.attempt})
    return result


def _engine_version(lane: Lane) -> str | None:
    import subprocess

    try:
        out = subprocess.run([lane.engine.binary(lane.spec), "--version"], capture_output=True, text=True,
                             timeout=20, check=False)
        text = (out.stdout + out.stderr).strip().splitlines()
        return next((line for line in text if "version" in line.lower()), text[-1] if text else None)
    except (OSError, subprocess.SubprocessError, LanekitError):
        return None


def _resumable_run(store, digest: str) -> str | None:
    """The newest unfinished run of this plan whose owner is gone (a live one belongs to someone)."""
    for run in store.list_runs():
        meta = run.get("meta") or {}
        if run.get("kind") == "bakeoff" and meta.get("plan_digest") == digest and run.get("status") == "interrupted":
            return run["run_id"]
    return None


def finished_lanes(store, run_id: str) -> set[str]:
    return {s["lane"] for s in store.lane_steps(run_id) if s["step"] == "done"}


def _stop_orphans(console) -> list[str]:
    """Stop lanes a killed bakeoff left running in this LANEKIT_HOME (never anyone else's)."""
    from lanekit.lanes import registry
    from lanekit.lanes.teardown import stop_lane_processes

    stopped = []
    for rec in registry.orphans(owner_kind="bakeoff"):
        report = stop_lane_processes(rec)
        stopped.append(report.summary())
        if console is not None:
            console.print(f"stopped an orphan of a killed bakeoff (run {rec.run_id}): {report.summary()}",
                          markup=False, soft_wrap=True)
    return stopped


def _tuned(spec: LaneSpec, plan: BakeoffPlan, console) -> LaneSpec:
    """The plan's `tune:` step: the lane's tuned spec (a finished tune is reused, not searched again)."""
    from lanekit.tune.search import TuneConfig
    from lanekit.tune.session import TuneOptions, tuned_spec

    cfg = plan.tune
    options = TuneOptions(objective=cfg.objective, params=cfg.params, doctor=cfg.doctor, ttft_slo_ms=cfg.ttft_slo_ms,
                          itl_slo_ms=cfg.itl_slo_ms,
                          config=TuneConfig(budget_trials=cfg.budget_trials, budget_s=cfg.budget_s, seed=cfg.seed,
                                            finalists=cfg.finalists, repeats=cfg.repeats))
    say = (lambda msg: console.print(f"[{spec.name}] tune {msg}", markup=False)) if console is not None else None
    tuned, result = tuned_spec(spec, options, progress=say)
    if say:
        say(f"winner {result.winner_params} ({result.improvement_pct}% vs as given)" if result.winner_params
            else "kept the lane as given (no finalist passed validation)")
    return tuned


def run_bakeoff(plan: BakeoffPlan, *, out_dir: str | Path = "lanekit-profile", agent: str | None = None,
                store=None, resume: bool = True, console=None, wait: bool = False) -> BakeoffReport:
    """Run (or resume) a bakeoff, rank the lanes and write the profile directory."""
    from lanekit.locks import exclusive
    from lanekit.report.profile import build_report, write_profile
    from lanekit.report.store import Store

    store = store or Store()
    agent = agent or plan.eval.agent
    digest = plan.digest()
    on_wait = (lambda msg: console.print(msg, markup=False)) if console is not None else None
    with exclusive("bakeoff", f"lanekit bakeoff {plan.name}", scope="home", wait=wait, on_wait=on_wait,
                   fix="one bakeoff runs per LANEKIT_HOME: wait for it (--wait), or set LANEKIT_HOME elsewhere"):
        if agent != "none":  # refuse before any lane starts, not after the first one is measured
            from lanekit.agents.jail import default_jail
            default_jail().require(f"the {agent} agent battery's shell and file tools")
        _stop_orphans(console)
        specs = plan.lane_specs()
        if plan.bench.replay:  # a trace that cannot be read fails here, in one line, not on every lane
            from lanekit.agents.traces.workload import read_trace

            read_trace(plan.bench.replay.trace)
        hw = hardware_fingerprint(plan.hardware)
        run_id = _resumable_run(store, digest) if resume else None
        resumed = sorted(finished_lanes(store, run_id)) if run_id else []
        meta = {"plan_digest": digest, "plan": plan.model_dump(mode="json"), "agent": agent, "hardware": hw}
        if run_id is None:
            run_id = store.new_run("bakeoff", meta)
        else:
            store.reopen_run(run_id)
        t0 = time.monotonic()
        progress = live_progress(console, len(specs) * len(steps_of(plan))) if console is not None else None
        bases = quality_bases(plan, specs)
        with progress if progress is not None else nullcontext():
            for spec in specs:
                if spec.name in resumed:
                    if progress is not None:
                        progress.skip(spec.name, len(steps_of(plan)))
                    continue
                try:
                    if plan.tune is not None:
                        spec = _tuned(spec, plan, console)
                    run_lane(spec, plan, store, run_id, agent=agent, hw=hw, progress=progress,
                             quality_base=bases.get(spec.name))
                except KeyboardInterrupt:
                    store.finish_run(run_id, "interrupted")
                    raise
        store.set_run_meta(run_id, {**meta, "elapsed_s": time.monotonic() - t0})
        store.finish_run(run_id, "finished")
        report = build_report(store, run_id, resumed_lanes=resumed)
        report.out_dir = str(write_profile(store, run_id, out_dir, report=report))
        return report


__all__ = ["STEPS", "LineProgress", "run_bakeoff", "run_lane"]
