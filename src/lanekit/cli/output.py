"""Shared rendering helpers for commands: one console, JSON printing."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

from lanekit.report.render.json import jsonable

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(value: Any) -> None:
    """Print one JSON document on stdout (NaN as null), nothing else."""
    print(json.dumps(jsonable(value), indent=2, sort_keys=False, default=str))


def shell_lines(command: str, width: int = 80) -> str:
    """A shell command folded at its flags with `\\` continuations when it is wider than `width`,
    so it still pastes into a shell as one command."""
    import shlex

    if len(command) <= width or "\n" in command:
        return command
    try:
        words = shlex.split(command)
    except ValueError:  # not a plain word list (quotes the lexer rejects): leave it whole
        return command
    lines, line = [], ""
    for i, word in enumerate(words):
        token = shlex.quote(word)
        starts_flag = word.startswith("-") and i > 0
        if line and (starts_flag or len(line) + 1 + len(token) > width - 2) and len(line) > 2:
            lines.append(line)
            line = "  " + token
        else:
            line = f"{line} {token}" if line else token
    lines.append(line)
    return " \\\n".join(lines)


def comment_lines(text: str, prefix: str = "# ", width: int = 80) -> str:
    """`text` as shell comment lines of at most `width` columns (each line starts with `#`)."""
    import textwrap

    return textwrap.fill(text, width=width, initial_indent=prefix, subsequent_indent="#   ",
                         break_long_words=False, break_on_hyphens=False)
