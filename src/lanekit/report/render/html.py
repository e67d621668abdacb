"""The profile's `report.html`: one self-contained page (plotly.js inlined, no network) with the lane
table (intervals, sample sizes, reasons), the interactive figures, the comparison with other runs,
the README's method, caveats and tables, and links to the launch scripts and configs.

A renderer decides nothing: every number comes from the report, the figures or the comparison.
Each number in the lane table carries `data-lane`, `data-metric` and the exact `data-value` it
shows, so a test (or a script) can check the page against `manifest.json`.
"""

from __future__ import annotations

import html
import json
import time
from typing import Any

from lanekit.report import values
from lanekit.report.compare import Comparison, cell_text, delta_text
from lanekit.report.figures import Figure, lane_colours
from lanekit.results.models import BakeoffReport, LaneResult

# README sections the page shows as they are (its own table and plots replace the rest)
README_SECTIONS = ("Method", "Hardware", "Engine versions", "Memory: estimate vs actual", "Speed: prediction vs measured",
                   "Quality", "Caveats", "Lanes that failed a step")

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
main{max-width:1280px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555}.verdict{font-size:1.15em;font-weight:600;padding:12px 16px;background:#eef6ee;border-left:4px
 solid #2e7d32;margin:16px 0}.verdict.none{background:#fdeceb;border-color:#c62828}
.warn{background:#fff8e1;border-left:4px solid #f9a825;padding:8px 16px;margin:12px 0}.warn li{margin:2px 0}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.92em;background:#fff}
th,td{border:1px solid #e0e0e0;padding:5px 8px;vertical-align:top;text-align:left}th{background:#f3f3f3}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}.ci,.n{color:#666;font-size:.8em}
td.why{min-width:230px}td.lane{min-width:130px}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:baseline}
tr.out td{color:#777}.reasons{margin:0;padding-left:18px}.ok{color:#2e7d32;font-weight:600}.bad{color:#c62828}
.figure{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:18px 0;padding:8px 12px}
.figure .plot{min-height:420px}.note{color:#555;font-size:.9em;margin:4px 0}
.better{color:#2e7d32}.worse{color:#c62828}.noise{color:#777}code{background:#f0f0f0;padding:0 3px;border-radius:3px}
"""

SCRIPT = """
document.querySelectorAll('script[data-figure]').forEach(function (s) {
  var spec = JSON.parse(s.textContent);
  Plotly.newPlot(s.getAttribute('data-figure'), spec.data, spec.layout,
                 {responsive: true, displaylogo: false});
});
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(lane: str, metric: str, v: values.Value, fmt: str = "{:.1f}", pct: bool = False) -> str:
    """A table cell holding one number, its interval and n; `data-value` is the exact number."""
    if v.point is None:
        return f'<td class="num" data-lane="{_e(lane)}" data-metric="{metric}">–</td>'
    f = (lambda x: f"{x:.0%}") if pct else fmt.format
    body = _e(f(v.point))
    extra = f"[{_e(f(v.low))}–{_e(f(v.high))}] " if v.bounded else ""
    extra += f"n={v.n}" if v.n else ""
    if extra:  # under the value: keeps the columns narrow enough for the reasons to be read
        body += f'<div class="ci" title="{_e(v.bounds or "")}">{extra.strip()}</div>'
    return (f'<td class="num" data-lane="{_e(lane)}" data-metric="{metric}" data-value="{v.point!r}">'
            f"{body}</td>")


def _lane_cell(x: LaneResult, colour: str) -> str:
    tag = " (synthetic)" if x.synthetic else ""
    return (f'<td class="lane"><span class="swatch" style="background:{colour}"></span><b>{_e(x.name)}</b>{_e(tag)}'
            f'<br><span class="n">{_e(x.engine)} · {_e(x.model)} · {_e(x.sizing.quant or "–")}</span></td>')


def lane_table(report: BakeoffReport) -> str:
    """The ranking as an HTML table: headline and diagnostics with intervals, reasons per lane."""
    colours = lane_colours([x.name for x in report.lanes])
    replayed = any(values.turn_s(x).point is not None for x in report.lanes)
    reuse = any(values.prefix_reuse(x) is not None for x in report.lanes)
    head = ["rank", "lane"] + (["s / agent turn"] if replayed else []) + [
        "decode tok/s", "TTFT ms", "% of roofline", "weights GB", "format-error", "clean-run", "task success"]
    head += ["prefix reuse"] if reuse else []
    head += ["verdict"]
    rows = []
    for x, v in report.ranked():
        cells = [f'<td class="num">{v.rank if v.eligible else "✗"}{" ★" if v.recommended else ""}</td>',
                 _lane_cell(x, colours[x.name])]
        if replayed:
            cells.append(_num(x.name, "turn_s", values.turn_s(x), "{:.2f}"))
        cells += [_num(x.name, "decode_tok_s", values.decode_tok_s(x)), _num(x.name, "ttft_ms", values.ttft_ms(x), "{:.0f}"),
                  _num(x.name, "pct_of_ceiling", values.Value(x.pct_of_ceiling),
                       "{:.1f}%" if (x.pct_of_ceiling or 100) < 10 else "{:.0f}%"),
                  _num(x.name, "weights_gb", values.Value(values.weights_gb(x)), "{:.2f}")]
        for key in ("format_error_rate", "clean_run_rate", "task_success_rate"):
            cells.append('<td class="num">not measured</td>' if x.synthetic
                         else _num(x.name, key, values.rate(x, key), pct=True))
        if reuse:
            cells.append(_num(x.name, "prefix_reuse", values.Value(values.prefix_reuse(x)), pct=True))
        if v.eligible:
            noise = getattr(v, "within_noise_of", None)
            extra = f" · within noise of {_e(', '.join(noise))}" if noise else ""
            cells.append(f'<td class="why"><span class="ok">eligible</span>{extra}</td>')
        else:
            reasons = "".join(f"<li>{_e(r)}</li>" for r in v.reasons or ["not eligible"])
            fixes = "".join(f"<li>fix: {_e(f)}</li>" for f in (x.doctor.fixes if x.doctor else []))
            cells.append(f'<td class="why"><span class="bad">disqualified</span><ul class="reasons">{reasons}{fixes}'
                         "</ul></td>")
        rows.append(f'<tr class="{"in" if v.eligible else "out"}" data-lane="{_e(x.name)}">{"".join(cells)}</tr>')
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f'<div class="scroll"><table id="lanes"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _figure(fig: Figure) -> str:
    from lanekit.report.render.interactive import to_plotly

    data = json.dumps(to_plotly(fig), separators=(",", ":")).replace("</", "<\\/")
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in fig.notes)
    return (f'<section class="figure" id="sec-{fig.id}"><div class="plot" id="fig-{fig.id}"></div>{notes}'
            f'<script type="application/json" data-figure="fig-{fig.id}">{data}</script></section>')


def compare_section(comp: Comparison) -> str:
    """The comparison: runs, hardware changes, then per lane its status, changes and deltas."""
    runs = "".join(f"<li><code>{_e(r.run_id)}</code> ({_e(r.plan_name)}, "
                   f"{_e(time.strftime('%Y-%m-%d %H:%M', time.localtime(r.created_at)) if r.created_at else '?')})"
                   f" — {_e(r.verdict)}</li>" for r in comp.runs)
    out = ['<section id="compare"><h2>Compared with other runs</h2>', f"<ol>{runs}</ol>"]
    notes = comp.notes + [f"hardware: {c}" for c in comp.hardware_changes]
    if notes:
        out.append('<div class="warn"><ul>' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul></div>")
    ids = "".join(f"<th>{_e(r.run_id)}</th>" for r in comp.runs)
    for lane in comp.lanes:
        out.append(f'<h3 id="compare-{_e(lane.lane)}">{_e(lane.lane)}</h3>')
        if lane.changes:
            out.append("<p>What changed: " + "; ".join(f"<code>{_e(c)}</code>" for c in lane.changes) + "</p>")
        rows = ["<tr><td>status</td>" + "".join(f"<td>{_e(s)}</td>" for s in lane.status) + "<td></td></tr>"]
        for m in lane.metrics:
            cls = {"better": "better", "worse": "worse", "within noise": "noise"}.get(m.verdict, "noise")
            cells = "".join(f'<td class="num">{_e(cell_text(c, m.unit))}</td>' for c in m.cells)
            rows.append(f'<tr data-metric="{_e(m.metric)}"><td>{_e(m.metric)}</td>{cells}'
                        f'<td class="{cls}">{_e(delta_text(m))}</td></tr>')
        out.append(f'<div class="scroll"><table class="compare"><thead><tr><th>metric</th>{ids}<th>change</th>'
                   f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
    out.append('<p class="note">A change is "better" or "worse" only when both runs\' bounds exist and do not '
               'overlap; overlapping bounds are within noise; "no interval": too few samples to tell.</p></section>')
    return "\n".join(out)


def readme_sections(readme: str, wanted: tuple[str, ...] = README_SECTIONS) -> str:
    """The README's `## <wanted>` sections as HTML (markdown-it, raw HTML off)."""
    from markdown_it import MarkdownIt

    parts: dict[str, list[str]] = {}
    current: str | None = None
    for line in readme.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            parts[current] = []
        elif current is not None and not line.startswith("!["):
            parts[current].append(line)
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    return "\n".join(f"<section><h2>{_e(name)}</h2>{md.render(chr(10).join(parts[name]))}</section>"
                     for name in wanted if name in parts)


def _files(links: list[str]) -> str:
    if not links:
        return ""
    items = "".join(f'<li><a href="{_e(p)}">{_e(p)}</a></li>' for p in links)
    return f'<section id="files"><h2>Launch scripts, configs and data</h2><ul>{items}</ul></section>'


def render_html(report: BakeoffReport, figures: list[Figure], *, readme: str = "", comparison: Comparison | None = None,
                links: list[str] | None = None, warnings: list[str] | None = None) -> str:
    """The whole page; `links` are paths relative to the page, `warnings` extra lines (e.g. Hermes)."""
    from lanekit.report.render.interactive import plotly_js

    plan = report.plan or {}
    verdict_cls = "verdict none" if report.nothing_measured or not report.recommended else "verdict"
    warn = list(report.warnings) + list(warnings or [])
    warn_html = ('<div class="warn" id="warnings"><b>Read the ranking with care:</b><ul>'
                 + "".join(f"<li>{_e(w)}</li>" for w in warn) + "</ul></div>") if warn else ""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(report.created_at)) if report.created_at else "?"
    body = [
        f"<h1>lanekit profile — {_e(report.plan_name)}</h1>",
        f'<p class="meta">Run <code>{_e(report.run_id)}</code> · {_e(when)} · agent {_e(report.agent or "builtin")} · '
        f'plan sha256 <code>{_e(str(report.plan_digest or "")[:12])}</code>'
        + (f" · {_e(plan.get('description'))}" if plan.get("description") else "") + "</p>",
        f'<div class="{verdict_cls}" id="verdict">{_e(report.verdict)}</div>', warn_html,
        "<h2>Lanes</h2>", lane_table(report),
        ('<p class="note">Numbers in brackets are 95 % intervals where the run computed them (else the p10–p90 '
         "spread of the samples); n is the number of samples behind each. Rates are over agent runs (format-error: "
         "over tool-call attempts).</p>"),
    ]
    if figures:
        body.append("<h2>Plots</h2>")
        body += [_figure(f) for f in figures]
    if comparison is not None and len(comparison.runs) > 1:
        body.append(compare_section(comparison))
    body.append(readme_sections(readme))
    body.append(_files(links or []))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>lanekit profile — {_e(report.plan_name)} ({_e(report.run_id)})</title>"
            f"<style>{CSS}</style><script>{plotly_js()}</script></head>"
            f"<body><main>{''.join(body)}</main><script>{SCRIPT}</script></body></html>\n")


__all__ = ["compare_section", "lane_table", "readme_sections", "render_html"]
