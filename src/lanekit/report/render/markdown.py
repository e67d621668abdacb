"""The profile README: lane table, verdict, method, hardware, engine versions, caveats.

A renderer decides nothing: eligibility, rank and the verdict come from `results.ranking`.
"""

from __future__ import annotations

import math
from typing import Any

from lanekit.results.models import BakeoffReport

GB = 1e9


def _f(value: Any, fmt: str = "{:.1f}", none: str = "–") -> str:
    if value is None:
        return none
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "n/a"
    return fmt.format(v)


def _pct(value: Any) -> str:
    return _f(value, "{:.0%}")


def _iv(iv: Any, fmt: str = "{:.2f}", pct: bool = False) -> str:
    """`1.23 [1.10–1.40] n=9`; `–` when not measured (a renderer shows, it does not judge)."""
    if iv is None or iv.point is None:
        return "–"
    f = (lambda v: f"{v:.0%}") if pct else fmt.format
    text = f(iv.point)
    if iv.bounded:
        text += f" [{f(iv.low)}–{f(iv.high)}]"
    return f"{text} n={iv.n}"


def _reuse(x: Any) -> str:
    reuse = x.bench.prefix_reuse
    if reuse is None:
        return "–"
    s = x.bench.replay or {}
    return f"{reuse:.0%} ({s.get('cached_tokens', 0):,}/{s.get('prompt_tokens', 0):,} tok)"


def _rank(v: Any) -> str:
    if not v.eligible:
        return "✗"
    return f"{v.rank}" + (" ≈" if v.within_noise_of else "")


def lane_table(report: BakeoffReport) -> str:
    """The ranking table (headline: seconds per agent turn on the replayed trace), in rank order."""
    head = ("| lane | rank | s/turn (95% CI) | replay TTFT ms | prefix reuse | s/successful task | format-error "
            "| clean-run | task success | ⭐ |")
    rows = [head, "|" + "---|" * 10]
    for x, v in report.ranked():
        star = "⭐" if v.recommended else ""
        unmeasured = "not measured" if x.synthetic else None
        ivs = x.eval.intervals if x.eval else {}
        rows.append("| " + " | ".join([
            x.name + (" (synthetic)" if x.synthetic else ""), _rank(v), _iv(x.turn_s),
            _iv(_interval((x.bench.replay or {}).get("ttft_ms")), "{:.0f}"), _reuse(x), _iv(x.s_per_success, "{:.1f}"),
            *(unmeasured or (_iv(ivs[k], pct=True) if k in ivs else _pct(x.rate(k)))
              for k in ("format_error_rate", "clean_run_rate", "task_success_rate")),
            star]) + " |")
    return "\n".join(rows)


def _interval(raw: Any) -> Any:
    from lanekit.results.stats import Interval

    return Interval.model_validate(raw) if isinstance(raw, dict) else None


def _context_cell(x: Any) -> str:
    """Cold / warm TTFT at the deepest context measured, e.g. `32K: 5,210 / 140 ms`."""
    rows = [r for r in (x.bench.context or {}).get("depths") or [] if r.get("ttft_ms") is not None]
    if not rows:
        skipped = (x.bench.context or {}).get("skipped_depths")
        return f"skipped {skipped}" if skipped else "–"
    r = rows[-1]
    warm = r.get("ttft_ms_warm")
    return (f"{r['depth'] // 1024}K: {r['ttft_ms']:,.0f} / " + (f"{warm:,.0f}" if warm is not None else "–")
            + f" ms, {_f(r.get('decode_tok_s'))} tok/s")


def diagnostics_table(report: BakeoffReport) -> str:
    """What the headline rests on: engine, quant, memory, decode and TTFT, long context, drift, roofline."""
    head = ("| lane | engine | model | quant | weights GB | decode tok/s (95% CI) | TTFT ms | cold / warm TTFT "
            "at depth | sustained drift | % of roofline |")
    rows = [head, "|" + "---|" * 10]
    for x, _ in report.ranked():
        pct = x.pct_of_ceiling
        decode = x.bench.intervals.get("decode_tok_s")
        rows.append("| " + " | ".join([
            x.name + (" (synthetic)" if x.synthetic else ""), x.engine, str(x.model), x.sizing.quant or "–",
            _f(x.sizing.weights_bytes / GB if x.sizing.weights_bytes else None, "{:.2f}"),
            _iv(decode, "{:.1f}") if decode is not None else _f(x.decode_tok_s),
            _iv(x.bench.intervals["ttft_ms"], "{:.0f}") if "ttft_ms" in x.bench.intervals else _f(x.bench.ttft_ms, "{:.0f}"),
            _context_cell(x), _f(x.bench.sustained_drift_pct, "{:+.1f}%"),
            _f(pct, "{:.1f}%" if (pct or 100) < 10 else "{:.0f}%")]) + " |")
    return "\n".join(rows)


def _warnings_section(report: BakeoffReport) -> list[str]:
    """Reasons to distrust the ranking's order (`report.noise`), right under the table."""
    if not report.warnings:
        return []
    return ["## Read the ranking with care", "", *(f"- {w}" for w in report.warnings), ""]


def _noise_lines(report: BakeoffReport) -> list[str]:
    out = []
    seen: set[str] = set()
    for _, v in report.ranked():
        if v.eligible and v.within_noise_of and v.name not in seen:
            group = [v.name, *v.within_noise_of]
            seen.update(group)
            out.append(f"- Within noise (intervals overlap, not ordered): {', '.join(group)}.")
    return out


def _why_section(report: BakeoffReport) -> list[str]:
    out = ["## Why each lane is (not) eligible", ""]
    for x, v in report.ranked():
        if v.eligible:
            out.append(f"- **{x.name}**: eligible (rank {v.rank}).")
            continue
        out.append(f"- **{x.name}**: " + "; ".join(v.reasons or ["not eligible"]) + ".")
        for fix in (x.doctor.fixes if x.doctor else []):
            out.append(f"  - fix: {fix}")
    return out


def _memory_section(report: BakeoffReport) -> list[str]:
    """Estimate vs what each engine really held after launch (RSS, or NVML on a discrete GPU)."""
    rows = []
    for x in report.lanes:
        vs = ((x.launch.footprint or {}) if x.launch else {}).get("vs_estimate")
        if not vs:
            continue
        kv = (f"{_f(vs.get('kv_estimate_bytes', 0) / GB, '{:.2f}')} / {_f((vs.get('kv_actual_bytes') or 0) / GB or None, '{:.2f}')}"
              if vs.get("kv_actual_bytes") else f"{_f(vs.get('kv_estimate_bytes', 0) / GB, '{:.2f}')} / –")
        rows.append(f"| {x.name} | {_f(vs['estimate_bytes'] / GB, '{:.2f}')} | {_f((vs['actual_bytes'] or 0) / GB, '{:.2f}')} "
                    f"({vs['actual_source']}) | {_f(vs.get('ratio'), '{:.2f}')} | {kv} | "
                    f"{vs.get('kv_tokens_estimate') or '–'} / {vs.get('kv_tokens_actual') or '–'} |")
    sizing = [x for x in report.lanes if x.sizing.predicted_decode_tok_s and x.decode_tok_s]
    out = []
    if rows:
        out += ["## Memory: estimate vs actual", "",
                "| lane | estimate GB | held after launch GB | estimate ÷ actual | KV GB est / actual | KV tokens est / actual |",
                "|---|---|---|---|---|---|", *rows, ""]
    if sizing:
        out += ["## Speed: prediction vs measured", "",
                "| lane | predicted tok/s | measured tok/s | % of predicted | prediction source |", "|---|---|---|---|---|"]
        out += [f"| {x.name} | {_f(x.sizing.predicted_decode_tok_s)} | {_f(x.decode_tok_s)} | "
                f"{_f(x.pct_of_predicted, '{:.0f}%')} | {x.sizing.prediction_source or '–'} |" for x in sizing]
        out.append("")
    return out


def _quality_section(report: BakeoffReport) -> list[str]:
    """PPL, and KLD / top-1 agreement against the model's highest-precision lane, beside memory and speed."""
    rows = [x for x in report.lanes if x.quality]
    if not rows:
        return []
    out = ["## Quality", "", "| lane | weights GB | tok/s | PPL | KLD vs base | top-1 agreement | base |",
           "|---|---|---|---|---|---|---|"]
    for x in rows:
        q = x.quality
        ppl = _f(q.ppl.ppl, "{:.4f}") + (f" ± {q.ppl.ppl_err:.4f}" if q.ppl.ppl_err else "")
        kld = (_f(q.kld.kld_mean, "{:.6f}") + (" (lower bound)" if q.kld.topk_only else "")) if q.kld else \
            ("base" if q.is_base else "–")
        top = _f(q.kld.same_top, "{:.2%}") if q.kld else "–"
        out.append(f"| {x.name} | {_f((x.sizing.weights_bytes or 0) / GB or None, '{:.2f}')} | {_f(x.decode_tok_s)} | "
                   f"{ppl} | {kld} | {top} | {q.kld.base if q.kld else ('this lane' if q.is_base else '–')} |")
    corpora = sorted({f"{x.quality.corpus} (sha256 {x.quality.corpus_sha256[:12]})" for x in rows})
    out += ["", f"Corpus: {', '.join(corpora)}; {rows[0].quality.ppl.n_chunks} chunks of "
                f"{rows[0].quality.ppl.n_ctx} tokens, llama.cpp's convention (second half of each chunk scored).", ""]
    return out


def _caveats(report: BakeoffReport) -> list[str]:
    bench = report.plan.get("bench") or {}
    single = bench.get("single") or {}
    sustained = bench.get("sustained") or {}
    replay = bench.get("replay") or {}
    context = bench.get("context") or {}
    out = ["## Caveats", ""]
    if replay:
        first = next((x.bench.replay for x in report.lanes if x.bench.replay), None) or {}
        out.append(f"- The headline replays `{replay.get('trace')}` ({first.get('sessions', '?')} sessions, "
                   f"{(first.get('requests') or 0) // max(1, replay.get('repeats') or 1)} requests) "
                   f"{replay.get('repeats')} times in {replay.get('mode')} mode"
                   + (", replies held to the recorded lengths" if first.get("pin_output") else "")
                   + ". It is one agent's workload: a lane that is faster on it may not be faster on yours — "
                     "replay your own (`lanekit trace convert`, then `bench.replay.trace` or `--replay`).")
    if context:
        depths = context.get("depths")
        out.append(f"- Long-context TTFT was measured at {depths if depths != 'harness' else 'the harness floor'} "
                   "tokens where each lane serves them; a depth a lane cannot serve is listed as skipped.")
    out.append(f"- Single-stream speed is the median of {single.get('samples', '?')} samples of "
               f"{single.get('max_tokens', '?')} output tokens after {single.get('warmup', '?')} warm-up request(s).")
    if sustained:
        out.append(f"- Sustained runs last {sustained.get('duration_s')} s; drift compares the first and last "
                   f"{sustained.get('interval_s')} s windows. That is a short burst, not an overnight soak.")
    for x in report.lanes:
        if x.eval and x.eval.n_runs:
            out.append(f"- {x.name}: reliability rests on {x.eval.n_runs} agent runs ({x.eval.agent} agent); "
                       "a clean score says the lane *can* be agent-grade on these tasks, not that it never fumbles.")
        if x.synthetic:
            out.append(f"- {x.name}: synthetic random weights — its speed is the real speed for that shape, its "
                       "text is garbage, and no reliability is reported.")
        if x.pct_of_ceiling and x.pct_of_ceiling > 100:
            out.append(f"- {x.name}: measured speed is ABOVE the bandwidth ceiling — a metric or hardware profile "
                       "is wrong; do not trust this row.")
        for note in x.notes:
            out.append(f"- {note}")
    return out


def render_readme(report: BakeoffReport, plots: list[str]) -> str:
    """The profile's README.md."""
    plan = report.plan
    hw = report.hardware
    prof = hw.get("profile") or {}
    lines = [f"# lanekit profile — {plan.get('name', 'bakeoff')}", "",
             f"Run `{report.run_id}` · agent: {report.agent or 'builtin'} · "
             f"plan sha256 `{str(report.plan_digest or '')[:12]}`", "", f"**{report.verdict}**", "",
             lane_table(report), "", *_noise_lines(report), "",
             ("s/turn: seconds per agent turn — the lane's send-to-last-byte time per request of the replayed agent "
             "trace (mean over its requests; the interval resamples each request's repeats, so the trace's mix of "
             "long and short turns is not counted as noise; n = requests × passes). replay TTFT: the same, to the "
             "first token. prefix reuse: prompt tokens after each session's first request that the server served "
             "from its prefix cache (cached/total). s/successful task: battery wall seconds ÷ successful tasks. "
             "format-error: failed tool-call attempts ÷ attempts (malformed, unknown tool, schema violation, call "
             "written in the text, call owed but not made); a reply cut off at the output cap is not a format "
             "error — it is `truncated`, makes the run unclean and names the cap. clean-run: runs that finished "
             "on an answer with no error of any class. task success: finished and the answer checks pass. "
             "Rates carry 95% Wilson intervals, speeds 95% bootstrap intervals; n is the sample size behind "
             "each. ≈ = within noise of another lane (intervals overlap: same rank, not ordered). "
             "✗ = disqualified (reasons below)."), "", "### Diagnostics", "", diagnostics_table(report), "",
             ("decode tok/s: median single-stream decode (client-measured, streaming). TTFT: median time to first "
             "token of the fixed single-stream prompt. cold / warm TTFT at depth: a unique prompt of that many "
             "tokens, then the same prompt re-sent (served from the prefix cache). % of roofline: measured ÷ "
             "(bandwidth ÷ bytes of active weights read per token)."), ""]
    lines += _warnings_section(report)
    lines += _why_section(report) + [""]
    for name in plots:
        lines += [f"![{name}](plots/{name})", ""]
    lines += ["## Method", "",
              ("Lanes ran strictly one at a time. Each lane: fit (memory estimate and roofline from the model file) → "
              "guard (refused before launch if it would not fit) → up (own process group, health-gated warm-up) → "
              "doctor (live checks: models endpoint, context, structured tool calls, streaming, usage, metrics) → "
              "bench (the agent trace replayed: streamed, the lane's own sampling, the recorded gaps between a "
              "reply and the next request honoured; then cold and warm TTFT and decode at long contexts, "
              "single-stream, sustained, concurrency sweep as diagnostics) → agent battery through a real "
              "streaming tool-call loop → down (SIGTERM→SIGKILL the group, then verified: port closed, processes "
              "gone, memory back). Ranking: doctor pass, format-error rate and clean-run rate within the plan's "
              "thresholds qualify a lane; qualified lanes are ordered by seconds per agent turn on the replayed "
              "trace (single-stream tok/s for lanes without one); lanes whose intervals overlap share a rank, "
              "and among them the one needing the least memory is recommended."), "", "## Hardware", "",
              f"- profile: {prof.get('name', 'unknown')} ({_f(prof.get('bandwidth_gb_s'), '{:.0f}')} GB/s"
              f"{', unified memory' if prof.get('unified') else ''})",
              f"- CPU: {hw.get('cpu')}, {hw.get('cores')} cores / {hw.get('threads')} threads; memory "
              f"{_f((hw.get('memory_bytes') or 0) / GB, '{:.1f}')} GB; {hw.get('os')}; Python {hw.get('python')}", "",
              "## Engine versions", ""]
    versions = sorted({f"{x.engine}: {x.launch.engine_version}" for x in report.lanes
                       if x.launch and x.launch.engine_version})
    lines += [f"- {v}" for v in versions] or ["- (not recorded)"]
    lines += [""] + _memory_section(report) + _quality_section(report) + _caveats(report) + [""]
    failures = [x for x in report.lanes if x.failure]
    if failures:
        lines += ["## Lanes that failed a step", ""]
        for x in failures:
            lines.append(f"- **{x.name}** failed at `{x.failure.step}`: {x.failure.reason}")
            if x.failure.fix:
                lines.append(f"  - fix: {x.failure.fix}")
        lines.append("")
    lines += ["## Files", "", "- `manifest.json` — every number, plan, battery and prompt hashes (schema_version).",
              "- `lanes.yaml` — the lane specs (`lanekit up NAME --lanes-file lanes.yaml`).",
              "- `launch/<lane>.sh`, `launch/lanekit-<lane>.service` — start a lane by hand or under systemd (chat templates are copied beside the scripts; PORT, HOST, LLAMA_SERVER, MODEL, CHAT_TEMPLATE override).",
              "- `hermes/config.yaml`, `hermes/.env.example` — Hermes Agent on the recommended lane.",
              "- `report.html` — this profile as one page with interactive plots (works offline).",
              "- `llama-swap/config.yaml` — the lanes behind one llama-swap endpoint (eligible lanes listed).",
              "- `raw/run.csv` — every sample and summary as CSV (also `lanekit show RUN --csv`).",
              "- `plots/` — the figures above; `raw/` — every sample, step and agent trace.",
              "- Re-render with `lanekit profile RUN --out DIR`.", ""]
    return "\n".join(lines)
