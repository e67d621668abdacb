"""Where lanekit keeps state (live-lane records, logs), caches (assembled models) and results.

Everything hangs off `LANEKIT_HOME` (default `~/.cache/lanekit`) so tests and users can relocate it.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The root directory for lanekit's state, caches and results."""
    root = os.environ.get("LANEKIT_HOME")
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "lanekit"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sub(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir() -> Path:
    """Owner records of live lanes (one JSON file per lane)."""
    return _sub("lanes")


def log_dir() -> Path:
    """Engine logs, one file per lane start."""
    return _sub("logs")


def model_cache_dir() -> Path:
    """Assembled embedded models and synthetic GGUFs."""
    override = os.environ.get("LANEKIT_MODEL_CACHE")
    if override:
        path = Path(override).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return _sub("models")


def results_db() -> Path:
    """The SQLite results store."""
    return home() / "results.sqlite"
