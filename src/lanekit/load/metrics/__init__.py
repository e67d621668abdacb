"""Declared metrics, one class per file; `METRICS` maps tag → class.

`record_metrics(rec)` computes every per-request metric for one record.
"""

from __future__ import annotations

from lanekit.load.metrics import (  # noqa: F401  (importing registers each metric)
    client_in_flight_rate,
    client_wall_rate,
    decode_rate,
    e2e,
    e2e_output_rate,
    evaluated_prefill_rate,
    itl,
    prefill_rate,
    prefix_hit_rate,
    server_decode_rate,
    server_in_flight_rate,
    server_slot_decode_rate,
    server_wall_rate,
    spec_acceptance,
    system_output_rate,
    ttfo,
    ttfr,
    ttft,
)
from lanekit.load.metrics.base import METRICS, Metric, RecordSet, register

RECORD_METRICS = tuple(m for m in METRICS.values() if m.kind == "record")
AGGREGATE_METRICS = tuple(m for m in METRICS.values() if m.kind == "aggregate")
SERVER_METRICS = tuple(m for m in METRICS.values() if m.kind == "server")


def record_metrics(rec) -> dict[str, int | float | None]:
    """Every record metric of one request, by tag."""
    return {m.tag: m.compute(rec) for m in RECORD_METRICS}


def aggregate_metrics(records: list, wall_ns: int | None = None) -> dict[str, float | None]:
    """Every aggregate metric over valid records (wall_ns defaults to the records' own span)."""
    rs = RecordSet(records, wall_ns)
    return {m.tag: m.compute(rs) for m in AGGREGATE_METRICS}


def server_metrics(totals) -> dict[str, float | None]:
    """Every server metric over a `scrape.WindowTotals`."""
    return {m.tag: m.compute(totals) for m in SERVER_METRICS}


__all__ = [
    "AGGREGATE_METRICS",
    "METRICS",
    "RECORD_METRICS",
    "SERVER_METRICS",
    "Metric",
    "RecordSet",
    "aggregate_metrics",
    "record_metrics",
    "register",
    "server_metrics",
]
