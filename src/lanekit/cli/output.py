"""Shared rendering helpers for commands: one console, JSON printing."""

from __future__ import annotations

import json
import math
from typing import Any

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def _clean(value: Any) -> Any:
    """Make values JSON-safe: NaN/inf become null, pydantic models become dicts."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def print_json(value: Any) -> None:
    """Print one JSON document on stdout (NaN as null), nothing else."""
    print(json.dumps(_clean(value), indent=2, sort_keys=False, default=str))
