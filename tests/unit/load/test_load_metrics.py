"""Declared metrics: every formula, the declarations themselves, and the aggregate (wall vs in-flight) math."""

from __future__ import annotations

import pytest

from lanekit.endpoint.records import RequestRecord
from lanekit.load.metrics import (
    METRICS,
    RecordSet,
    aggregate_metrics,
    record_metrics,
    register,
    server_metrics,
)
from lanekit.load.metrics.base import Metric
from lanekit.load.scrape import WindowTotals

S = 1_000_000_000


def rec(start_s: float = 0.0, ttft_s: float = 0.2, e2e_s: float = 1.2, osl: int = 101, **kw) -> RequestRecord:
    fields = {"started_at": 0.0, "start_ns": int(start_s * S), "ttfr_ns": int(ttft_s * S) - 1, "ttft_ns": int(ttft_s * S),
              "ttfo_ns": int(ttft_s * S), "e2e_ns": int(e2e_s * S), "osl": osl, "isl": 500,
              "requested_max_tokens": osl, **kw}
    return RequestRecord(**fields)


def test_every_metric_is_declared_with_tag_unit_direction_requires_and_formula():
    assert len(METRICS) >= 15
    for tag, cls in METRICS.items():
        d = cls.describe()
        assert d["tag"] == tag and d["unit"] in {"ns", "tok/s", "tokens", "ratio"}
        assert isinstance(d["larger_is_better"], bool) and d["requires"] and d["formula"].startswith(tag)
        assert d["kind"] in {"record", "aggregate", "server"}


def test_time_metrics_are_integer_ns_and_smaller_is_better():
    m = record_metrics(rec())
    for tag in ("ttfr_ns", "ttft_ns", "ttfo_ns", "e2e_ns", "itl_ns"):
        assert isinstance(m[tag], int) and not METRICS[tag].larger_is_better


def test_itl_and_per_user_decode_rate_exclude_the_first_token():
    m = record_metrics(rec(ttft_s=0.2, e2e_s=1.2, osl=101))
    assert m["itl_ns"] == 10_000_000
    assert m["decode_tok_s"] == pytest.approx(100.0)
    assert m["e2e_output_tok_s"] == pytest.approx(101 / 1.2)


def test_itl_needs_two_output_tokens():
    m = record_metrics(rec(osl=1))
    assert m["itl_ns"] is None and m["decode_tok_s"] is None and m["e2e_output_tok_s"] is not None


def test_missing_inputs_give_none_never_zero():
    m = record_metrics(RequestRecord(started_at=0, start_ns=0, error="boom"))
    assert all(v is None for v in m.values())


def test_prefill_rate_is_isl_over_ttft_as_the_field_notes_define_it():
    assert record_metrics(rec(ttft_s=0.5))["prefill_tok_s"] == pytest.approx(1000.0)
    assert record_metrics(rec(ttft_s=0.5, cached_tokens=400))["prefill_tok_s"] == pytest.approx(1000.0)


def test_register_refuses_duplicates_and_missing_formula():
    class NoFormula(Metric):
        """No formula here."""

        tag, unit, larger_is_better, requires = "x_test", "ns", False, ("e2e_ns",)

    with pytest.raises(ValueError, match="Formula"):
        register(NoFormula)

    class Dup(Metric):
        """Formula: ttft_ns = duplicate"""

        tag, unit, larger_is_better, requires = "ttft_ns", "ns", False, ("ttft_ns",)

    with pytest.raises(ValueError, match="twice"):
        register(Dup)


def test_idle_gaps_lower_the_wall_rate_but_not_the_in_flight_rate():
    # two 1 s requests of 100 tokens with a 1 s idle gap, inside a 3 s wall window
    records = [rec(0.0, 0.1, 1.0, 100), rec(2.0, 0.1, 1.0, 100)]
    agg = aggregate_metrics(records, wall_ns=3 * S)
    assert agg["wall_tok_s"] == pytest.approx(200 / 3)
    assert agg["in_flight_tok_s"] == pytest.approx(100.0)
    assert agg["system_output_tok_s"] == pytest.approx(200 / 3)  # span includes the gap too


def test_overlapping_requests_count_busy_time_once():
    records = [rec(0.0, 0.1, 2.0, 100), rec(1.0, 0.1, 2.0, 100)]  # busy 0..3 s
    rs = RecordSet(records)
    assert rs.busy_ns == 3 * S and rs.span_ns == 3 * S
    assert aggregate_metrics(records)["in_flight_tok_s"] == pytest.approx(200 / 3)


def test_aggregates_leave_out_short_and_failed_requests():
    good = rec(0.0, 0.1, 1.0, 100)
    short = rec(1.0, 0.1, 1.0, 10, short=True)
    failed = rec(2.0, 0.1, 1.0, 100, error="x")
    rs = RecordSet([good, short, failed])
    assert rs.records == [good] and rs.total_osl == 100


def test_server_metrics_from_window_totals():
    w = WindowTotals(generated_tokens=600, wall_ns=6 * S, busy_ns=4 * S, prefix_hits=750, prefix_queries=1000,
                     spec_accepted=30, spec_draft_tokens=40, generation_seconds=5.0)
    m = server_metrics(w)
    assert m["server_wall_tok_s"] == pytest.approx(100.0)
    assert m["server_in_flight_tok_s"] == pytest.approx(150.0)
    assert m["prefix_hit_rate"] == pytest.approx(0.75)
    assert m["spec_acceptance"] == pytest.approx(0.75)
    assert m["server_slot_decode_tok_s"] == pytest.approx(120.0)


def test_server_ratios_are_none_when_the_denominator_is_zero():
    m = server_metrics(WindowTotals(generated_tokens=0, wall_ns=S, busy_ns=0, prefix_hits=0, prefix_queries=0))
    assert m["server_in_flight_tok_s"] is None and m["prefix_hit_rate"] is None and m["spec_acceptance"] is None
