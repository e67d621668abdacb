"""Where a measurement writes what it measured: a `Sink` it is handed, never the store itself.

The store's `StoreSink` queues to a writer thread; `ListSink` keeps everything in memory (tests,
`--no-store`). A sink call must return at once: it runs between timed requests.
"""

from __future__ import annotations

from typing import Any, Protocol


class Sink(Protocol):
    """The three things a measurement emits."""

    def sample(self, scenario: str, data: dict[str, Any]) -> None:
        """One measured sample (a request, an agent run)."""

    def samples(self, scenario: str, rows: list[dict[str, Any]]) -> None:
        """A side series measured beside the samples (scrapes, telemetry)."""

    def summary(self, scenario: str, summary: dict[str, Any]) -> None:
        """The scenario's summary, once, after its samples."""


class ListSink:
    """A sink that keeps what it is given, in order."""

    run_id: str | None = None
    lane: str | None = None

    def __init__(self, run_id: str | None = None, lane: str | None = None) -> None:
        self.run_id, self.lane = run_id, lane
        self.rows: list[tuple[str, dict[str, Any]]] = []
        self.summaries: dict[str, dict[str, Any]] = {}

    def sample(self, scenario: str, data: dict[str, Any]) -> None:
        self.rows.append((scenario, data))

    def samples(self, scenario: str, rows: list[dict[str, Any]]) -> None:
        self.rows.extend((scenario, r) for r in rows)

    def summary(self, scenario: str, summary: dict[str, Any]) -> None:
        self.summaries[scenario] = summary

    def of(self, scenario: str) -> list[dict[str, Any]]:
        """The samples given for one scenario."""
        return [d for s, d in self.rows if s == scenario]
