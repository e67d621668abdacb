"""CSV of a stored run: one row per sample and per summary, nested fields as dotted columns."""

from __future__ import annotations

import csv
import io
import json

from lanekit.report.export import flatten, run_csv
from lanekit.report.store import Store


def test_every_sample_and_summary_becomes_one_row(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        run = store.new_run("bench", {})
        store.add_sample(run, "lane-a", "single", {"kind": "request", "ttft_ns": 41_500_000,
                                                   "server_timings": {"predicted_per_second": 31.5}, "itl_ns": [1, 2]})
        store.add_sample(run, "lane-a", "single", {"kind": "request", "ttft_ns": 40_000_000, "error": "timeout"})
        store.set_summary(run, "lane-a", "single", {"decode_tok_s": 30.25, "roofline": {"pct_of_ceiling": 41.0}})
        text = run_csv(store, run)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["record"] for r in rows] == ["sample", "sample", "summary"]
    assert rows[0]["ttft_ns"] == "41500000" and rows[0]["server_timings.predicted_per_second"] == "31.5"
    assert json.loads(rows[0]["itl_ns"]) == [1, 2]
    assert rows[1]["error"] == "timeout" and rows[0]["error"] == ""
    assert rows[2]["decode_tok_s"] == "30.25" and rows[2]["roofline.pct_of_ceiling"] == "41.0"
    assert {r["run_id"] for r in rows} == {run} and {r["lane"] for r in rows} == {"lane-a"}


def test_flatten_keeps_lists_whole_and_marks_empty_mappings():
    assert flatten({"a": {"b": {"c": 1}}, "l": [{"x": 1}], "e": {}}) == {"a.b.c": 1, "l": '[{"x":1}]', "e": "{}"}
