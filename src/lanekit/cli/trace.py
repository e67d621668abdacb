"""`lanekit trace`: turn agent runs into a replayable workload, and look inside one.

    lanekit trace convert RUNS.jsonl -o my.trace.jsonl [--mode history|delta]
    lanekit trace show TRACE [--json]

RUNS is `lanekit eval --save-runs` output (the built-in loop) or a `hermes sessions export`
(lanekit's Hermes runs keep theirs as `sessions.jsonl` in the run directory). The trace is AIPerf
`mooncake_trace` JSONL; replay it with `lanekit bench --replay TRACE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Agent traces as a workload: convert runs, show a trace.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def register(root: typer.Typer) -> None:
    """Add `lanekit trace` (convert, show) to the app."""
    root.add_typer(app, name="trace")


def _render(info: dict[str, Any], title: str) -> None:
    from rich.table import Table

    from lanekit.cli.output import console

    console.print(title, markup=False)
    table = Table("field", "value", show_header=False, box=None, pad_edge=False)
    rows = [
        ("sessions", info["sessions"]),
        ("requests", info["requests"]),
        ("longest session", f"{info['max_requests_per_session']} requests"),
        ("largest prompt", f"{info['prompt_chars_max']:,} characters"),
        ("tools", ", ".join(info["tools"]) or "-"),
        ("output tokens", f"{info['output_tokens']:,} (median {info['output_tokens_median']})"),
        (
            "agent gaps",
            (
                f"{info['requests_with_delay']} (median {info['delay_ms_median']} ms, "
                f"{info['delay_s_total']} s in all)"
            ),
        ),
        ("prompt extends the last", f"{info['extend_previous']}/{info['later_requests']} later requests"),
        ("harness", ", ".join(info["harness"]) or "-"),
        ("sha256", info["sha256"][:16] or "-"),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)


@app.command("convert")
def convert(
    runs: Annotated[
        Path, typer.Argument(help="AgentRun JSONL (`lanekit eval --save-runs`) or a Hermes export")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="trace JSONL to write")],
    mode: Annotated[
        str, typer.Option("--mode", help="history: full messages per request; delta: new ones only")
    ] = "history",
    battery: Annotated[
        str | None, typer.Option("--battery", help="battery the runs came from (Hermes toolsets)")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=1, help="the runs' output cap")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print what the trace holds as JSON")] = False,
) -> None:
    """Convert agent runs to a replayable trace (AIPerf mooncake_trace JSONL)."""
    from lanekit.agents.battery import load_battery
    from lanekit.agents.traces.workload import convert_runs, describe, read_trace, write_trace
    from lanekit.cli.output import err_console, print_json
    from lanekit.errors import ConfigError

    if mode not in ("history", "delta"):
        raise ConfigError(f"--mode: {mode!r} is not history or delta", fix="--mode history")
    trace, notes = convert_runs(runs, load_battery(battery), max_tokens=max_tokens)
    write_trace(trace, out, mode)  # type: ignore[arg-type]
    info = describe(read_trace(out))
    for note in notes:
        err_console.print(f"note: {note}", markup=False, highlight=False)
    if json_out:
        print_json({**info, "notes": notes})
    else:
        _render(info, f"wrote {out} ({mode} mode)")


@app.command("show")
def show(
    trace: Annotated[
        str, typer.Argument(help="trace JSONL, or embedded:core (the trace shipped with lanekit)")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """What a trace holds: sessions, requests, prompt sizes, tools, output lengths, agent gaps."""
    from lanekit.agents.traces.workload import describe, read_trace
    from lanekit.cli.output import print_json

    info = describe(read_trace(trace))
    if json_out:
        print_json(info)
    else:
        _render(info, trace)
