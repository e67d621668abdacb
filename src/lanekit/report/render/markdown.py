"""The profile README: lane table, verdict, method, hardware, engine versions, caveats."""

from __future__ import annotations

import math
from typing import Any

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


def lane_table(lanes: list[dict[str, Any]]) -> str:
    head = ("| lane | engine | model | quant | weights GB | tok/s | TTFT ms | sustained drift | % of roofline "
            "| format-error | clean-run | task success | ⭐ |")
    rows = [head, "|" + "---|" * 13]
    for x in lanes:
        star = "⭐" if x.get("recommended") else ("" if x.get("eligible") else "✗")
        rows.append("| " + " | ".join([
            x["name"] + (" (synthetic)" if x.get("synthetic") else ""), x.get("engine", ""), str(x.get("model", "")),
            x.get("quant") or "–", _f((x.get("weights_bytes") or 0) / GB if x.get("weights_bytes") else None, "{:.2f}"),
            _f(x.get("decode_tok_s")), _f(x.get("ttft_ms"), "{:.0f}"),
            _f(x.get("sustained_drift_pct"), "{:+.1f}%"), _f(x.get("pct_of_ceiling"), "{:.1f}%" if (x.get("pct_of_ceiling") or 100) < 10 else "{:.0f}%"),
            "not measured" if x.get("synthetic") else _pct(x.get("format_error_rate")),
            "not measured" if x.get("synthetic") else _pct(x.get("clean_run_rate")),
            "not measured" if x.get("synthetic") else _pct(x.get("task_success_rate")), star]) + " |")
    return "\n".join(rows)


def _why_section(lanes: list[dict[str, Any]]) -> list[str]:
    out = ["## Why each lane is (not) eligible", ""]
    for x in lanes:
        if x.get("eligible"):
            out.append(f"- **{x['name']}**: eligible (rank {x.get('rank')}).")
            continue
        out.append(f"- **{x['name']}**: " + "; ".join(x.get("ineligible_reasons") or ["not eligible"]) + ".")
        for fix in x.get("doctor_fixes") or []:
            out.append(f"  - fix: {fix}")
    return out


def _caveats(lanes: list[dict[str, Any]], plan: dict[str, Any]) -> list[str]:
    bench = plan.get("bench") or {}
    single = bench.get("single") or {}
    sustained = bench.get("sustained") or {}
    out = ["## Caveats", ""]
    out.append(f"- Single-stream speed is the median of {single.get('samples', '?')} samples of "
               f"{single.get('max_tokens', '?')} output tokens after {single.get('warmup', '?')} warm-up request(s).")
    if sustained:
        out.append(f"- Sustained runs last {sustained.get('duration_s')} s; drift compares the first and last "
                   f"{sustained.get('interval_s')} s windows. That is a short burst, not an overnight soak.")
    for x in lanes:
        n = x.get("n_agent_runs")
        if n:
            out.append(f"- {x['name']}: reliability rests on {n} agent runs ({x.get('agent', 'builtin')} agent); "
                       "a clean score says the lane *can* be agent-grade on these tasks, not that it never fumbles.")
        if x.get("synthetic"):
            out.append(f"- {x['name']}: synthetic random weights — its speed is the real speed for that shape, its "
                       "text is garbage, and no reliability is reported.")
        if x.get("pct_of_ceiling") and x["pct_of_ceiling"] > 100:
            out.append(f"- {x['name']}: measured speed is ABOVE the bandwidth ceiling — a metric or hardware profile "
                       "is wrong; do not trust this row.")
    return out


def render_readme(run: dict[str, Any], lanes: list[dict[str, Any]], plots: list[str], verdict: str) -> str:
    meta = run.get("meta") or {}
    plan = meta.get("plan") or {}
    hw = meta.get("hardware") or {}
    prof = hw.get("profile") or {}
    lines = [f"# lanekit profile — {plan.get('name', 'bakeoff')}", "",
             f"Run `{run.get('id') or run.get('run_id')}` · agent: {meta.get('agent', 'builtin')} · "
             f"plan sha256 `{str(meta.get('plan_digest', ''))[:12]}`", "", f"**{verdict}**", "",
             lane_table(lanes), "",
             "tok/s: median single-stream decode (client-measured, streaming). TTFT: median time to first token. "
             "% of roofline: measured ÷ (bandwidth ÷ bytes of active weights read per token). "
             "format-error: failed tool-call attempts ÷ attempts (malformed, unknown tool, schema violation, call written in the text, cut off at the output cap, call owed but not made). clean-run: runs that finished on an answer with no error of any class. task success: finished and the answer checks pass. "
             "✗ = disqualified (reasons below).", ""]
    lines += _why_section(lanes) + [""]
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
    versions = sorted({f"{x.get('engine')}: {x.get('engine_version')}" for x in lanes if x.get("engine_version")})
    lines += [f"- {v}" for v in versions] or ["- (not recorded)"]
    lines += [""] + _caveats(lanes, plan) + [""]
    failures = [x for x in lanes if x.get("failed_step")]
    if failures:
        lines += ["## Lanes that failed a step", ""]
        lines += [f"- **{x['name']}** failed at `{x['failed_step']}`: {x.get('failed_reason')}" for x in failures]
        lines.append("")
    lines += ["## Files", "", "- `manifest.json` — every number, plan, battery and prompt hashes (schema_version).",
              "- `lanes.yaml` — the lane specs (`lanekit up NAME --lanes-file lanes.yaml`).",
              "- `launch/<lane>.sh`, `launch/lanekit-<lane>.service` — start a lane by hand or under systemd (chat templates are copied beside the scripts; PORT, HOST, LLAMA_SERVER, MODEL, CHAT_TEMPLATE override).",
              "- `hermes/config.yaml`, `hermes/.env.example` — Hermes Agent on the recommended lane.",
              "- `plots/` — the figures above; `raw/` — every sample, step and agent trace.",
              "- Re-render with `lanekit profile RUN --out DIR`.", ""]
    return "\n".join(lines)
