"""GPU lane proof, the Python half of `run_gpu_proof.sh`.

    proof.py lane  --model FILE --server BIN --out DIR [--hw h100] [--ngl 99] [--sustained-s 60]
    proof.py table --out DIR [--bandwidth-gb-s 3350]

`lane` serves FILE through lanekit's own lane lifecycle (a `synthetic: true` llama.cpp lane)
and runs lanekit's single, sweep and sustained scenarios on it (NVML telemetry beside the
sustained run), writing DIR/lane.json. `table` joins lane.json, llama-bench.json (`-o json`),
fit.json (`lanekit fit --json`) and synth.json into DIR/results.json and a markdown table.
A scenario that fails is recorded with its error; the others still run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any

H100_HBM3_GB_S = 3350.0  # H100 SXM HBM3 peak
REFERENCE = {  # issue 8: llama-bench -fa 1 on an H100, Q4_0 random blocks, 49,152-token vocab
    "Qwen/Qwen3-30B-A3B": {"tg128": 324.0, "pp512": 12652.0, "size": "15.8 GiB"},
    "Qwen/Qwen3-32B": {"tg128": 89.0, "pp512": 2830.0, "size": "17.8 GB"},
}


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _scenario(name: str, fn, results: dict[str, Any]) -> None:
    t0 = time.monotonic()
    print(f"[proof] {name} ...", flush=True)
    try:
        res = fn()
        obj = res.to_json_object()
        obj["telemetry_series"] = res.series.get("telemetry", [])[-600:] if name == "sustained" else None
        results[name] = obj
        print(f"[proof] {name} done in {time.monotonic() - t0:.1f}s", flush=True)
    except Exception as exc:  # noqa: BLE001 - a failed scenario is data; the others still run
        results[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}
        print(f"[proof] {name} FAILED: {exc}", flush=True)


def run_lane(args: argparse.Namespace) -> int:
    """Serve the model as a synthetic lane and run single, sweep and sustained on it."""
    from lanekit.catalog.fit import fit_model
    from lanekit.catalog.hardware import get_profile
    from lanekit.catalog.models import shape_from_gguf
    from lanekit.lanes import serve_lane
    from lanekit.lanes.spec import parse_lane
    from lanekit.load import scenarios as sc

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fit = fit_model(shape_from_gguf(args.model), get_profile(args.hw), ctx=args.ctx,
                    parallel=args.parallel).to_json()
    ceiling = fit["decode_ceiling_tok_s"]
    spec = parse_lane({
        "name": "gpu-proof", "engine": "llamacpp", "model": str(Path(args.model).resolve()), "binary": args.server,
        "gpu_layers": args.ngl, "flash_attn": args.fa, "ctx": args.ctx, "parallel": args.parallel,
        "synthetic": True, "warm_timeout_s": 900, "stop_grace_s": 15,
    }, where="gpu-proof")
    results: dict[str, Any] = {"schema_version": 1, "spec": spec.model_dump(), "fit_ceiling_tok_s": ceiling}
    t0 = time.monotonic()
    try:
        with serve_lane(spec) as lane:
            results["ready_s"] = round(lane.ready_s or time.monotonic() - t0, 2)
            results["argv"] = lane.engine.argv(spec, lane.port)
            url, model, metrics = lane.base_url, lane.model_id, lane.metrics_url
            print(f"[proof] lane ready in {results['ready_s']}s at {url} (model {model})", flush=True)
            _scenario("single", lambda: sc.run_single(url, model, samples=args.samples, max_tokens=args.max_tokens, warmup=2,
                                                      ceiling_tok_s=ceiling), results)
            _scenario("sweep", lambda: sc.run_sweep(url, model, concurrency=tuple(args.concurrency),
                                                    max_tokens=args.max_tokens,
                                                    metrics_url=metrics, metrics_prefix="llamacpp:",
                                                    ceiling_tok_s=ceiling), results)
            _scenario("sustained", lambda: sc.run_sustained(url, model, duration_s=args.sustained_s,
                                                            interval_s=args.interval_s, max_tokens=2 * args.max_tokens,
                                                            metrics_url=metrics, metrics_prefix="llamacpp:",
                                                            telemetry=True, ceiling_tok_s=ceiling), results)
        td = lane.teardown
        results["teardown"] = td.model_dump() | {"verified": td.verified, "summary": td.summary()} if td else None
    except Exception as exc:  # noqa: BLE001 - the lane itself failed: record why, exit non-zero
        results["lane_error"] = f"{type(exc).__name__}: {exc}"
        results["lane_log_tail"] = getattr(exc, "log_tail", "")[-4000:]
        print(f"[proof] lane FAILED: {exc}\n{results['lane_log_tail']}", flush=True)
    (out / "lane.json").write_text(json.dumps(results, indent=2, default=str))
    return 1 if "lane_error" in results else 0


def _bench_row(bench: Any, n_prompt: int, n_gen: int) -> dict[str, Any] | None:
    for row in bench or []:
        if int(row.get("n_prompt", -1)) == n_prompt and int(row.get("n_gen", -1)) == n_gen:
            return row
    return None


def _pct(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return round(100.0 * (a / b - 1.0), 2)


def _f(x: Any, nd: int = 1, suffix: str = "") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:,.{nd}f}{suffix}" if isinstance(x, (int, float)) else str(x)


def build_results(out: Path, bandwidth_gb_s: float) -> dict[str, Any]:
    """Join the step outputs under `out` into one results object (numbers as measured)."""
    lane = _load(out / "lane.json") or {}
    bench = _load(out / "llama-bench.json")
    fit = _load(out / "fit.json") or {}
    synth = _load(out / "synth.json") or {}
    single = lane.get("single") or {}
    sweep = lane.get("sweep") or {}
    sus = lane.get("sustained") or {}
    tg = _bench_row(bench, 0, 128)
    pp = _bench_row(bench, 512, 0)
    tg_ts = tg.get("avg_ts") if tg else None
    lk = single.get("decode_tok_s")
    per_token = fit.get("bytes_read_per_token")
    roof = (bandwidth_gb_s * 1e9 / per_token) if per_token else None
    pred = fit.get("predicted_decode_tok_s")  # served single stream (llama-server)
    pred_bench = fit.get("predicted_bench_tok_s") or pred  # without the server's per-token work
    tel = ((sus.get("telemetry") or {}).get("gpu")) or {}
    ref = REFERENCE.get(synth.get("hf_id") or "", {}) if synth.get("n_layers") == synth.get("source_layers") else {}
    return {
        "schema_version": 1,
        "model": synth.get("hf_id") or synth.get("model"), "quant": synth.get("quant"),
        "layers": synth.get("n_layers"), "vocab_size": synth.get("vocab_size"),
        "weights_bytes": synth.get("weights_bytes"), "fit_weights_bytes": fit.get("weights_bytes"),
        "gpu": (bench or [{}])[0].get("gpu_info") if bench else None,
        "lanekit_single_tok_s": lk, "lanekit_single_p10": single.get("decode_tok_s_p10"),
        "lanekit_single_p90": single.get("decode_tok_s_p90"), "server_decode_tok_s": single.get("server_decode_tok_s"),
        "single_ttft_ms": single.get("ttft_ms"),
        "llama_bench_tg128_tok_s": tg_ts, "llama_bench_tg128_stddev": tg.get("stddev_ts") if tg else None,
        "llama_bench_pp512_tok_s": pp.get("avg_ts") if pp else None,
        "agreement_pct": _pct(lk, tg_ts),
        "sweep_levels": [{k: lv.get(k) for k in ("concurrency", "per_request_tok_s", "aggregate_tok_s",
                                                   "ttft_ms_p50")} for lv in sweep.get("levels") or []],
        "sweep_peak_aggregate_tok_s": sweep.get("peak_aggregate_tok_s"), "sweep_peak_concurrency":
            sweep.get("peak_concurrency"),
        "sustained_s": sus.get("duration_s"), "sustained_interval_tok_s": sus.get("interval_tok_s"),
        "sustained_drift_pct": sus.get("drift_pct"), "sustained_wall_tok_s": sus.get("wall_tok_s"),
        "gpu_temp_max_c": tel.get("temp_max_c"), "sm_clock_min_mhz": tel.get("sm_clock_min_mhz"),
        "sm_clock_max_mhz": tel.get("sm_clock_max_mhz"), "power_mean_w": tel.get("power_mean_w"),
        "gpu_mem_used_max_bytes": tel.get("mem_used_max_bytes"),
        "bytes_read_per_token": per_token, "bandwidth_gb_s": bandwidth_gb_s, "roofline_tok_s": roof,
        "pct_of_roofline_lanekit": round(100 * lk / roof, 1) if lk and roof else None,
        "pct_of_roofline_tg128": round(100 * tg_ts / roof, 1) if tg_ts and roof else None,
        "fit_decode_ceiling_tok_s": fit.get("decode_ceiling_tok_s"), "fit_bandwidth_gb_s": fit.get("bandwidth_gb_s"),
        "fit_predicted_tok_s": pred, "fit_predicted_bench_tok_s": pred_bench,
        "fit_prediction_source": fit.get("prediction_source"), "fit_prediction_terms": fit.get("prediction_terms"),
        "prediction_error_vs_lanekit_pct": _pct(pred, lk), "prediction_error_vs_tg128_pct": _pct(pred_bench, tg_ts),
        "reference_tg128_tok_s": ref.get("tg128"), "reference_pp512_tok_s": ref.get("pp512"),
        "lane_ready_s": lane.get("ready_s"), "lane_error": lane.get("lane_error"),
        "scenario_errors": {k: (lane.get(k) or {}).get("error") for k in ("single", "sweep", "sustained")
                            if (lane.get(k) or {}).get("error")},
        "teardown_verified": (lane.get("teardown") or {}).get("verified"),
    }


def render_table(r: dict[str, Any]) -> str:
    """The GPU table as markdown."""
    sweep = ", ".join(f"{lv['concurrency']}→{_f(lv['aggregate_tok_s'])}" for lv in r["sweep_levels"]) or "-"
    ref = ""
    if r.get("reference_tg128_tok_s"):
        ref = (f" (issue 8 reference: tg128 {r['reference_tg128_tok_s']:.0f}, "
               f"pp512 {r['reference_pp512_tok_s']:,.0f})")
    rows = [
        ("model (synthetic)", (f"{r['model']} {r['quant']}, {r['layers']} layers, vocab {_f(r['vocab_size'], 0)}, "
                              f"{_f((r['weights_bytes'] or 0) / 2**30, 2)} GiB (fit reads "
                              f"{_f((r['fit_weights_bytes'] or 0) / 2**30, 2)} GiB)")),
        ("GPU", r.get("gpu") or "-"),
        ("lanekit single-stream decode", (f"{_f(r['lanekit_single_tok_s'])} tok/s (p10 {_f(r['lanekit_single_p10'])}, "
                                         f"p90 {_f(r['lanekit_single_p90'])}; server timings "
                                         f"{_f(r['server_decode_tok_s'])})")),
        ("llama-bench tg128 / pp512", (f"{_f(r['llama_bench_tg128_tok_s'])} ± {_f(r['llama_bench_tg128_stddev'])} / "
                                      f"{_f(r['llama_bench_pp512_tok_s'], 0)} tok/s{ref}")),
        ("lanekit vs tg128", f"{_f(r['agreement_pct'], 2, ' %')} (target within ±5 %)"),
        ("sweep aggregate (streams→tok/s)", (f"{sweep}; peak {_f(r['sweep_peak_aggregate_tok_s'])} at "
                                            f"{r['sweep_peak_concurrency']}")),
        ("sustained drift", (f"{_f(r['sustained_drift_pct'], 2, ' %')} over {_f(r['sustained_s'], 0)} s "
                            f"(windows {r['sustained_interval_tok_s']})")),
        ("GPU temperature peak / SM clock / power", (f"{_f(r['gpu_temp_max_c'], 0)} °C / "
                                                    f"{_f(r['sm_clock_min_mhz'], 0)}–{_f(r['sm_clock_max_mhz'], 0)} MHz"
                                                    f" / {_f(r['power_mean_w'], 0)} W mean")),
        ("% of roofline", (f"{_f(r['pct_of_roofline_lanekit'])} % lanekit, {_f(r['pct_of_roofline_tg128'])} % tg128 "
                          f"(ceiling {_f(r['roofline_tok_s'])} tok/s = {r['bandwidth_gb_s']:.0f} GB/s / "
                          f"{_f((r['bytes_read_per_token'] or 0) / 1e9, 3)} GB per token)")),
        ("lanekit fit prediction", (f"{_f(r['fit_predicted_tok_s'])} tok/s: error "
                                   f"{_f(r['prediction_error_vs_lanekit_pct'], 1, ' %')} vs lanekit, "
                                   f"{_f(r['prediction_error_vs_tg128_pct'], 1, ' %')} vs tg128")),
    ]
    if r.get("lane_error") or r.get("scenario_errors"):
        rows.append(("errors", f"{r.get('lane_error') or ''} {r.get('scenario_errors') or ''}".strip()))
    lines = ["| measure | value |", "| --- | --- |"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def run_table(args: argparse.Namespace) -> int:
    out = Path(args.out)
    results = build_results(out, args.bandwidth_gb_s)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    table = render_table(results)
    (out / "table.md").write_text(table + "\n")
    print(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    lane = sub.add_parser("lane", help="serve the model as a synthetic lane and bench it")
    lane.add_argument("--model", required=True)
    lane.add_argument("--server", required=True, help="llama-server binary")
    lane.add_argument("--out", required=True)
    lane.add_argument("--hw", default="h100")
    lane.add_argument("--ngl", type=int, default=99)
    lane.add_argument("--fa", default="on", choices=("on", "off", "auto"))
    lane.add_argument("--ctx", type=int, default=2048, help="context per request")
    lane.add_argument("--parallel", type=int, default=8)
    lane.add_argument("--samples", type=int, default=5)
    lane.add_argument("--max-tokens", type=int, default=128, help="output tokens per request (tg128: 128)")
    lane.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    lane.add_argument("--sustained-s", type=float, default=60.0)
    lane.add_argument("--interval-s", type=float, default=10.0)
    table = sub.add_parser("table", help="join the step outputs into results.json and table.md")
    table.add_argument("--out", required=True)
    table.add_argument("--bandwidth-gb-s", type=float, default=H100_HBM3_GB_S)
    args = parser.parse_args(argv)
    return run_lane(args) if args.cmd == "lane" else run_table(args)


if __name__ == "__main__":
    sys.exit(main())
