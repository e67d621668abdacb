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


def lane_table(report: BakeoffReport) -> str:
    """The markdown lane table, in ranking order."""
    head = ("| lane | engine | model | quant | weights GB | tok/s | TTFT ms | sustained drift | % of roofline "
            "| format-error | clean-run | task success | ⭐ |")
    rows = [head, "|" + "---|" * 13]
    for x, v in report.ranked():
        star = "⭐" if v.recommended else ("" if v.eligible else "✗")
        pct = x.pct_of_ceiling
        unmeasured = "not measured" if x.synthetic else None
        rows.append("| " + " | ".join([
            x.name + (" (synthetic)" if x.synthetic else ""), x.engine, str(x.model), x.sizing.quant or "–",
            _f(x.sizing.weights_bytes / GB if x.sizing.weights_bytes else None, "{:.2f}"),
            _f(x.decode_tok_s), _f(x.bench.ttft_ms, "{:.0f}"), _f(x.bench.sustained_drift_pct, "{:+.1f}%"),
            _f(pct, "{:.1f}%" if (pct or 100) < 10 else "{:.0f}%"),
            unmeasured or _pct(x.rate("format_error_rate")), unmeasured or _pct(x.rate("clean_run_rate")),
            unmeasured or _pct(x.rate("task_success_rate")), star]) + " |")
    return "\n".join(rows)


def _warnings_section(report: BakeoffReport) -> list[str]:
    """Reasons to distrust the ranking's order (`report.noise`), right under the table."""
    if not report.warnings:
        return []
    return ["## Read the ranking with care", "", *(f"- {w}" for w in report.warnings), ""]


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
    out = ["## Caveats", ""]
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
             lane_table(report), "",
             "tok/s: median single-stream decode (client-measured, streaming). TTFT: median time to first token. "
             "% of roofline: measured ÷ (bandwidth ÷ bytes of active weights read per token). "
             "format-error: failed tool-call attempts ÷ attempts (malformed, unknown tool, schema violation, call written in the text, cut off at the output cap, call owed but not made). clean-run: runs that finished on an answer with no error of any class. task success: finished and the answer checks pass. "
             "✗ = disqualified (reasons below).", ""]
    lines += _warnings_section(report)
    lines += _why_section(report) + [""]
    for name in plots:
        lines += [f"![{name}](plots/{name})", ""]
    lines += ["## Method", "",
              "Lanes ran strictly one at a time. Each lane: fit (memory estimate and roofline from the model file) → "
              "guard (refused before launch if it would not fit) → up (own process group, health-gated warm-up) → "
              "doctor (live checks: models endpoint, context, structured tool calls, streaming, usage, metrics) → "
              "bench (single-stream, sustained, concurrency sweep; warm-up first, throughput over in-flight time) → "
              "agent battery through a real tool-call loop → down (SIGTERM→SIGKILL the group, then verified: port "
              "closed, processes gone, memory back). Ranking: doctor pass, format-error rate 0 and clean-run rate "
              "1 qualify a lane (thresholds in the plan); qualified lanes are ordered by single-stream tok/s, ties "
              "by memory.", "", "## Hardware", "",
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
