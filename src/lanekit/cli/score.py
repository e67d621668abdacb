"""`lanekit score FILE`: score a Hermes session export (or a lanekit run file) with the strict scorer.

`--json` prints the stable document:
    {"runs": [{"id", "task_id", "clean", "finished", "outcome", "answer_correct", "tool_calls",
               "attempts", "stop_reason", "errors": [{"class", "turn", "call", "tool", "detail"}]}],
     "summary": {"n_runs", "format_error_rate", "clean_run_rate", "finished_rate",
                 "task_success_rate", "tool_calls_per_run", "pass_k", "error_counts", "outcomes",
                 "verdict", ...},
     "skipped_lines": [{"line", "reason"}]}
Rates with nothing to divide are null (NaN in the library).
"""

from __future__ import annotations

import math
from typing import Any

import typer


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.1f}%"


def render_score(score: Any, skipped: list[Any] | None = None, title: str | None = None) -> None:
    """The human view: one row per run, then the rates and the verdict."""
    from rich.table import Table

    from lanekit.cli.output import console

    table = Table("run", "task", "outcome", "finished", "clean", "calls", "errors", title=title)
    for r in score.runs:
        errs = ", ".join(e.cls + (f"({e.tool})" if e.tool else "") for e in r.errors) or "-"
        table.add_row(r.id[:28], r.task_id or "?", r.outcome, "yes" if r.finished else "no",
                      "yes" if r.clean else "no", str(r.tool_calls), errs)
    if score.runs:
        console.print(table)
    s = score.summary
    console.print(f"runs {s['n_runs']}  attempts {s['attempts']}  tool calls {s['tool_calls']}  "
                  f"({s['tool_calls_per_run']:.2f} per run)" if s["n_runs"] else "no runs to score")
    console.print(f"format-error rate {_pct(s['format_error_rate'])}  clean-run rate {_pct(s['clean_run_rate'])}  "
                  f"finished {_pct(s['finished_rate'])}  task success {_pct(s['task_success_rate'])}")
    passk = "  ".join(f"pass^{k} {_pct(v)}" for k, v in s["pass_k"].items())
    console.print(f"{passk}  outcomes {s['outcomes']}")
    errors = {k: v for k, v in s["error_counts"].items() if v}
    if errors:
        console.print(f"errors by class: {errors}")
    if s["verdict"]:
        console.print(f"verdict: {s['verdict']} ({s['verdict_reason']})")
    for line in skipped or []:
        console.print(f"[yellow]skipped line {line.line}:[/] {line.reason}", markup=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def score(
        path: str = typer.Argument(..., help="`hermes sessions export` JSONL, or a run file from `lanekit eval`"),
        battery: str | None = typer.Option(None, "--battery", help="battery name or YAML path (default: core)"),
        json_out: bool = typer.Option(False, "--json", help="print the stable JSON on stdout"),
    ) -> None:
        """Score agent sessions: format errors by class, clean/finished/success rates, pass^k, verdict."""
        from pathlib import Path

        from lanekit.agents import load_battery, score_runs
        from lanekit.agents.traces.jsonl import read_runs
        from lanekit.cli.output import print_json
        from lanekit.errors import ConfigError

        file = Path(path).expanduser()
        if not file.is_file():
            raise ConfigError(f"{file}: no such file",
                              fix="export sessions with `hermes sessions export sessions.jsonl` and pass that file")
        runs, skipped = read_runs(file)
        result = score_runs(runs, load_battery(battery))
        if json_out:
            print_json(result.to_json([s.model_dump() for s in skipped]))
            return
        render_score(result, skipped, title=str(file))
