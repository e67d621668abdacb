"""How a bakeoff shows its progress: a live bar on a terminal, one plain line per finished step
when stderr is a log (`| tee`, CI) — failures included, with their reason."""

from __future__ import annotations

import time
from typing import Protocol


class StepProgress(Protocol):
    def begin(self, lane: str, step: str, what: str) -> None: ...

    def end(self, lane: str, step: str, status: str, elapsed_s: float, reason: str | None) -> None: ...

    def skip(self, lane: str, n_steps: int) -> None: ...

    def __enter__(self): ...

    def __exit__(self, *exc) -> None: ...


class LineProgress:
    """One line per finished step with the run's elapsed time: `[02:44] 12/21 lane: bench ok (91.5 s)`."""

    def __init__(self, console, total: int) -> None:
        self.console, self.total, self.done, self.t0 = console, total, 0, time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def begin(self, lane: str, step: str, what: str) -> None:
        return None

    def end(self, lane: str, step: str, status: str, elapsed_s: float, reason: str | None) -> None:
        self.done += 1
        self.line(f"{lane}: {step} {status} ({elapsed_s:.1f} s)" + (f": {reason}" if reason else ""))

    def skip(self, lane: str, n_steps: int) -> None:
        self.done += n_steps
        self.line(f"{lane}: finished in the interrupted run, skipped")

    def line(self, text: str) -> None:
        m, sec = divmod(int(time.monotonic() - self.t0), 60)
        self.console.print(f"[{m:02d}:{sec:02d}] {self.done}/{self.total} {text}", markup=False, highlight=False,
                           soft_wrap=True)  # a log line is one line: grep must find it whole


class BarProgress:
    """A rich progress bar for the whole run; failed steps also get their own line above it."""

    def __init__(self, console, total: int) -> None:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=console,
                            transient=False)
        self.task = self.bar.add_task("bakeoff", total=total)

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def begin(self, lane: str, step: str, what: str) -> None:
        self.bar.update(self.task, description=f"{lane}: {step}{' — ' + what if what else ''}")

    def end(self, lane: str, step: str, status: str, elapsed_s: float, reason: str | None) -> None:
        self.bar.advance(self.task)
        if status == "failed":
            self.bar.console.print(f"{lane}: {step} failed ({elapsed_s:.1f} s)" + (f": {reason}" if reason else ""),
                                   markup=False, style="red", highlight=False)

    def skip(self, lane: str, n_steps: int) -> None:
        self.bar.advance(self.task, n_steps)


def live_progress(console, total: int) -> StepProgress:
    """The bar on a terminal, lines otherwise."""
    return BarProgress(console, total) if console.is_terminal else LineProgress(console, total)
