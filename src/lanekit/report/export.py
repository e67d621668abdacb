"""CSV of a stored run: every sample and every summary, one row each, for a spreadsheet or pandas.

Nested fields become dotted columns (`server_timings.predicted_per_second`); lists stay whole as
JSON in one cell; integer nanoseconds stay integers. Columns are the union over all rows in
first-seen order after the fixed ones, so one file holds samples and summaries alike (`record`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

FIXED = ("record", "run_id", "lane", "scenario", "attempt", "id", "t")


def flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys for nested mappings; lists (and their mappings) as compact JSON in one cell."""
    out: dict[str, Any] = {}
    if not isinstance(doc, dict):
        return {prefix or "value": doc}
    for key, value in doc.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name) if value else {name: "{}"})
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(value, separators=(",", ":"), default=str)
        else:
            out[name] = value
    return out


def run_rows(store: Any, run_id: str) -> Iterator[dict[str, Any]]:
    """One flat row per sample, then one per summary, of `run_id`."""
    for s in store.samples(run_id):
        yield {"record": "sample", "run_id": run_id, "lane": s["lane"], "scenario": s["scenario"],
               "attempt": s["attempt"], "id": s["id"], "t": s["t"], **flatten(s["data"])}
    for s in store.summaries(run_id):
        yield {"record": "summary", "run_id": run_id, "lane": s["lane"], "scenario": s["scenario"],
               "t": s["updated_at"], **flatten(s["summary"])}


def write_csv(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    """Write rows (fixed columns first, then every other key in first-seen order); returns the count."""
    rows = list(rows)
    columns = list(FIXED)
    seen = set(columns)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return len(rows)


def run_csv(store: Any, run_id: str) -> str:
    """The whole run as CSV text."""
    buf = io.StringIO()
    write_csv(run_rows(store, run_id), buf)
    return buf.getvalue()


__all__ = ["flatten", "run_csv", "run_rows", "write_csv"]
