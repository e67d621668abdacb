"""Read and write run files: lanekit's own AgentRun JSONL and Hermes session exports, per line.

`read_runs(path)` accepts either kind (even mixed): a line with `turns` and `schema_version` is
an AgentRun written by `write_runs`; anything else is read as a Hermes session. Unreadable lines
come back as SkippedLine(line, reason) and do not stop the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from lanekit.agents.trace import AgentRun
from lanekit.agents.traces.hermes import SkippedLine, parse_sessions_export


def write_runs(path: str | Path, runs: list[AgentRun]) -> Path:
    """One AgentRun per line (re-scorable with `lanekit score`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for run in runs:
            fh.write(run.model_dump_json() + "\n")
    return path


def read_runs(path: str | Path) -> tuple[list[AgentRun], list[SkippedLine]]:
    """Every readable run in `path` (AgentRun JSONL or `hermes sessions export` JSONL)."""
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    runs: list[AgentRun] = []
    skipped: list[SkippedLine] = []
    hermes_lines: list[str] = []
    for lineno, line in enumerate(lines, 1):
        try:
            obj = json.loads(line) if line.strip() else None
        except (ValueError, RecursionError):  # bad JSON, or nested deeper than the parser goes
            obj = None
        if isinstance(obj, dict) and "turns" in obj and "schema_version" in obj:
            try:
                runs.append(AgentRun.model_validate(obj))
            except ValidationError as exc:
                skipped.append(SkippedLine(line=lineno, reason=f"invalid AgentRun: {exc.errors()[0]['msg']}"))
            hermes_lines.append("")  # keep line numbers aligned for the Hermes parser
        else:
            hermes_lines.append(line)
    hermes_runs, hermes_skipped = parse_sessions_export(hermes_lines)
    runs += hermes_runs
    skipped = sorted(skipped + hermes_skipped, key=lambda s: s.line)
    return runs, skipped
