"""Owner locks: one bakeoff per LANEKIT_HOME, one measurement per endpoint, machine-wide.

`flock` locks die with their process, so a SIGKILLed lanekit never leaves a lock behind. The
lock file holds who took it (pid, what, run, since), which is what a refused second run prints.
Locks are re-entrant within one process: the bakeoff holds its lane's endpoint lock while its own
bench takes it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from lanekit.errors import Busy

Scope = Literal["home", "machine"]
_held: dict[str, int] = {}
_held_lock = threading.Lock()


def _dir(scope: Scope) -> Path:
    if scope == "home":
        from lanekit.dirs import home

        path = home() / "locks"
    else:
        path = Path(tempfile.gettempdir()) / f"lanekit-locks-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def lock_path(name: str, scope: Scope = "home") -> Path:
    return _dir(scope) / (re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".lock")


def holder(path: Path) -> dict:
    """Who holds (or last held) the lock at `path` ({} when unknown)."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text() or "{}")
        if isinstance(data, dict):
            return data
    return {}


def describe_holder(info: dict) -> str:
    if not info:
        return "another lanekit process"
    since = time.strftime("%H:%M:%S", time.localtime(info.get("since", time.time())))
    run = f", run {info['run_id']}" if info.get("run_id") else ""
    return f"{info.get('what', 'lanekit')} (pid {info.get('pid')}{run}, since {since})"


@contextlib.contextmanager
def exclusive(name: str, what: str, *, scope: Scope = "home", wait: bool = False, run_id: str | None = None,
              fix: str | None = None, on_wait: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the named lock for the `with` block, or raise Busy naming its holder (`wait`: block)."""
    path = lock_path(name, scope)
    key = str(path)
    with _held_lock:
        if _held.get(key):
            _held[key] += 1
            reentrant = True
        else:
            reentrant = False
    if reentrant:
        try:
            yield path
        finally:
            with _held_lock:
                _held[key] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = describe_holder(holder(path))
            if not wait:
                raise Busy(f"{other} is using this already", fix=fix or "wait for it to finish, or rerun with --wait")
            if on_wait is not None:
                on_wait(f"waiting for {other} to finish…")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "what": what, "run_id": run_id, "since": time.time()}).encode(), 0)
        with _held_lock:
            _held[key] = 1
        try:
            yield path
        finally:
            with _held_lock:
                _held.pop(key, None)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def endpoint_key(base_url: str) -> str:
    """The lock name for an endpoint: its host and port (scheme and /v1 do not matter)."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url if "://" in base_url else f"http://{base_url}")
    return f"endpoint-{parts.hostname or 'localhost'}-{parts.port or (443 if parts.scheme == 'https' else 80)}"


def measuring(base_url: str, what: str, *, wait: bool = False, run_id: str | None = None,
              on_wait: Callable[[str], None] | None = None):
    """The machine-wide lock that keeps two measurements off one endpoint."""
    return exclusive(endpoint_key(base_url), what, scope="machine", wait=wait, run_id=run_id, on_wait=on_wait,
                     fix="two measurements on one endpoint contaminate each other's numbers: wait for the other "
                         "one, or rerun with --wait")
