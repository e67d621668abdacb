"""JSON rendering shared by `--json` output and the profile: NaN/inf become null, models become dicts."""

from __future__ import annotations

import math
from typing import Any


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of `value` (pydantic models dumped, non-finite floats as None)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
