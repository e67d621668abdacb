"""A stored bakeoff run with the shape a real one has (three lanes, every scenario, quality,
telemetry), written into a real results store, for the profile, HTML and comparison tests.

The numbers are modelled on an embedded bakeoff on this machine (SmolLM2 and Qwen2.5-Coder on
llama.cpp); `scale` shifts the speeds so a second run differs from the first.
"""

from __future__ import annotations

from lanekit.quality.result import KldEstimate, PplEstimate, QualityResult
from lanekit.report.store import Store
from lanekit.results.models import (
    DoctorOutcome,
    EvalOutcome,
    LaneResult,
    Launch,
    Sizing,
    UncleanRun,
)

LANES = ("qwen-fixed", "qwen-q8", "smollm2")


def _plan(name: str = "sample-plan") -> dict:
    return {"name": name, "description": "a sample plan", "lanes": [
        {"name": "qwen-fixed", "engine": "llamacpp", "model": "qwen2.5-coder-1.5b", "ctx": 4096, "parallel": 2,
         "chat_template_file": "qwen2.5-coder-tools"},
        {"name": "qwen-q8", "engine": "llamacpp", "model": "qwen2.5-coder-1.5b", "ctx": 4096, "parallel": 2},
        {"name": "smollm2", "engine": "llamacpp", "model": "smollm2-135m", "ctx": 2048, "parallel": 1}],
        "bench": {"single": {"samples": 5, "max_tokens": 64, "warmup": 1},
                  "sustained": {"duration_s": 20, "interval_s": 5}, "sweep": {"concurrency": [1, 2, 4]}},
        "ranking": {"require_doctor_pass": True, "max_format_error_rate": 0.0, "min_clean_run_rate": 1.0}}


def lane_result(name: str, tok_s: float, *, scale: float = 1.0, eligible: bool = True,
                engine_version: str = "version: 1 (abc)", extra_args: list[str] | None = None) -> LaneResult:
    """One lane's result with every section a measured lane has."""
    plan = {x["name"]: x for x in _plan()["lanes"]}
    spec = dict(plan[name], **({"extra_args": extra_args} if extra_args else {}))
    tok = tok_s * scale
    x = LaneResult(name=name, engine="llamacpp", model=spec["model"], ctx=spec["ctx"], parallel=spec["parallel"],
                   spec=spec, sizing=Sizing(weights_bytes=int(1.1e9 if "qwen" in name else 9.5e7), quant="Q4_K_M",
                                            total_bytes=int(1.4e9), decode_ceiling_tok_s=tok * 2.5),
                   launch=Launch(ready_s=4.2, engine_version=engine_version, port=8080, served_ctx=spec["ctx"]),
                   doctor=DoctorOutcome(verdict="pass" if eligible else "fail",
                                        failures=[] if eligible else ["tool_calls"],
                                        fixes=[] if eligible else ["serve a chat template with tool support"]))
    x.bench.single = {"decode_tok_s": round(tok, 2), "decode_tok_s_p10": round(tok * 0.97, 2),
                      "decode_tok_s_p90": round(tok * 1.03, 2), "ttft_ms": 41.5 / scale, "samples": 5,
                      "prompt_sha256": "ab" * 32}
    x.bench.sustained = {"intervals": [{"t_s": t, "tok_s": round(tok * (1 - 0.01 * i), 2)}
                                       for i, t in enumerate((5.0, 10.0, 15.0, 20.0))], "drift_pct": -3.0}
    x.bench.sweep = {"levels": [{"concurrency": c, "aggregate_tok_s": round(tok * c * 0.8, 2),
                                 "per_request_tok_s": round(tok * 0.8 / (1 + 0.1 * c), 2)} for c in (1, 2, 4)],
                     "peak_aggregate_tok_s": round(tok * 3.2, 2)}
    x.eval = EvalOutcome(agent="builtin", n_runs=8, summary={
        "format_error_rate": 0.0 if eligible else 0.5, "clean_run_rate": 1.0 if eligible else 0.25,
        "task_success_rate": 0.875 if eligible else 0.125, "attempts": 16,
        "error_counts": {} if eligible else {"no_call": 6}},
        unclean_runs=[] if eligible else [UncleanRun(task="read_phrase", why="no_call")])
    _with_intervals(x, tok)
    if "qwen" in name:
        base = name == "qwen-q8"
        x.quality = QualityResult(
            label=name, method="llama-perplexity", engine="llamacpp", corpus="pd-en-v1", corpus_sha256="cd" * 32,
            is_base=base, ppl=PplEstimate(ppl=9.81 if base else 9.93, ppl_err=0.12, n_ctx=512, n_chunks=16,
                                          n_scored=4096),
            kld=None if base else KldEstimate(base="qwen-q8.gguf", kld_mean=0.0123, kld_err=0.0011, same_top=0.955))
    return x


def _with_intervals(x: LaneResult, tok: float) -> None:
    """Where this lanekit's results carry intervals (the bakeoff computes them), give the sample
    the ones a real run of 5 samples would have; older results have none and show the spread."""
    from lanekit.results.models import BenchOutcome, EvalOutcome

    if "intervals" in BenchOutcome.model_fields:
        x.bench = BenchOutcome.model_validate({**x.bench.model_dump(), "intervals": {
            "decode_tok_s": {"point": tok, "low": round(tok * 0.985, 3), "high": round(tok * 1.015, 3), "n": 5,
                             "method": "bootstrap-median"}}})
    if "intervals" in EvalOutcome.model_fields and x.eval is not None:
        x.eval = EvalOutcome.model_validate({**x.eval.model_dump(), "intervals": {
            key: {"point": x.eval.summary[key], "low": max(0.0, x.eval.summary[key] - 0.3),
                  "high": min(1.0, x.eval.summary[key] + 0.3), "n": 8, "method": "wilson"}
            for key in ("clean_run_rate", "task_success_rate")}})


def without_intervals(x: LaneResult) -> LaneResult:
    """The lane as a run that computed no intervals records it (its spread is all there is)."""
    if getattr(x.bench, "intervals", None):
        x.bench.intervals = {}
    return x


def store_run(store: Store, *, scale: float = 1.0, plan_name: str = "sample-plan", engine_version: str = "version: 1 (abc)",
              extra_args: list[str] | None = None, created_offset_s: float = 0.0) -> str:
    """Write a finished bakeoff run into `store`; returns its run id."""
    plan = _plan(plan_name)
    run_id = store.new_run("bakeoff", {"plan": plan, "plan_digest": "ef" * 32, "agent": "builtin",
                                       "hardware": {"cpu": "x86_64", "cores": 2, "threads": 2,
                                                    "memory_bytes": 24 * 2**30, "os": "Linux 6", "python": "3.11",
                                                    "profile": {"name": "cpu-generic", "bandwidth_gb_s": 20.0}}})
    if created_offset_s:
        store._exec("UPDATE runs SET created_at = created_at + ? WHERE run_id = ?", (created_offset_s, run_id))
    results = [lane_result("qwen-fixed", 30.0, scale=scale, engine_version=engine_version, extra_args=extra_args),
               lane_result("qwen-q8", 29.5, scale=scale, engine_version=engine_version),
               lane_result("smollm2", 180.0, scale=scale, eligible=False, engine_version=engine_version)]
    for x in results:
        tel = [{"kind": "telemetry", "t_ns": 10**9 * (100 + t), "mem_available_bytes": int((12 - 0.1 * t) * 1e9),
                "gpus": None} for t in range(0, 21, 2)]
        store.add_samples(run_id, x.name, "sustained", tel)
        store.add_sample(run_id, x.name, "single", {"kind": "request", "decode_tok_s": x.decode_tok_s,
                                                     "ttft_ns": 41_500_000, "server_timings": {"n": 1}})
        store.set_summary(run_id, x.name, "single", x.bench.single)
        store.set_summary(run_id, x.name, "lane", x.model_dump(mode="json"))
        store.set_lane_step(run_id, x.name, "done", "done", {})
    store.finish_run(run_id, "finished")
    return run_id
