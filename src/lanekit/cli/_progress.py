"""A progress line for every step that can take more than two seconds, on a terminal or not.

On a terminal: a spinner with the current step and the elapsed time (rich's status line). Piped
or in a log: one line on stderr every `every_s` seconds once the step has run two seconds, so a
ten-minute run is never silent; nothing at all for a step that ends sooner.

    with Ticker("doctor") as tick:
        tick.update("tool_calls (3/12)")
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Self, TextIO

QUIET_S = 2.0


class Ticker:
    """Spinner (terminal) or periodic lines (pipe) for one long step; `update()` names the current part."""

    def __init__(self, what: str, *, every_s: float = 15.0, stream: TextIO | None = None,
                 tty: bool | None = None) -> None:
        self.what, self.every_s = what, every_s
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.label = ""
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = None
        self.lines = 0

    def _text(self) -> str:
        elapsed = int(time.monotonic() - self.t0)
        return f"{self.what}: {self.label + ', ' if self.label else ''}{elapsed // 60}m{elapsed % 60:02d}s"

    def update(self, label: str) -> None:
        """Name what is running now (shown on the next tick)."""
        self.label = label
        if self._status is not None:
            self._status.update(self._text())

    def _loop(self) -> None:
        next_at = self.t0 + QUIET_S
        while not self._stop.wait(0.25):
            now = time.monotonic()
            if self._status is not None:
                self._status.update(self._text())
            elif now >= next_at:
                self.stream.write(self._text() + "\n")
                self.stream.flush()
                self.lines += 1
                next_at = now + self.every_s

    def __enter__(self) -> Self:
        if self.tty:
            from rich.console import Console

            from lanekit.cli.output import err_console

            console = err_console if self.stream is sys.stderr else Console(file=self.stream, highlight=False)
            self._status = console.status(self._text())
            self._status.__enter__()
        self._thread = threading.Thread(target=self._loop, name="lanekit-ticker", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._status is not None:
            self._status.__exit__(exc_type, exc, tb)
