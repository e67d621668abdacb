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
