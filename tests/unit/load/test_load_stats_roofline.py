"""Reducers (NaN on empty, never a fake 0) and the roofline column."""

from __future__ import annotations

import math

import pytest

from lanekit.load.roofline import SANITY_FLOOR_PCT, decode_ceiling_tok_s, roofline_block
from lanekit.load.stats import finite_or_none, mean, median, ns_to_ms, percentile


def test_percentiles_interpolate_and_ignore_missing_values():
    assert median([3, 1, 2, None, float("nan")]) == 2
    assert percentile([1, 2, 3, 4, 5], 90) == pytest.approx(4.6)
    assert percentile([7], 99) == 7 and mean([1, 2, 3]) == 2


def test_empty_input_is_nan_not_zero():
    assert math.isnan(median([])) and math.isnan(mean([None])) and math.isnan(ns_to_ms(None))
    assert finite_or_none(float("nan")) is None and finite_or_none(1.23456, 2) == 1.23


def test_roofline_warns_above_the_ceiling_and_below_the_sanity_floor():
    block = roofline_block(50.0, 100.0)
    assert (block["ceiling_tok_s"], block["pct_of_ceiling"], block["warning"]) == (100.0, 50.0, None)
    assert "wrong" in roofline_block(120.0, 100.0)["warning"]
    low = roofline_block(SANITY_FLOOR_PCT / 2, 100.0)
    assert low["pct_of_ceiling"] == pytest.approx(SANITY_FLOOR_PCT / 2) and "suspect" in low["warning"]


def test_roofline_without_a_ceiling_or_a_measurement_is_empty():
    assert roofline_block(None, 100.0)["pct_of_ceiling"] is None
    empty = roofline_block(50.0, None)
    assert (empty["ceiling_tok_s"], empty["pct_of_ceiling"], empty["warning"]) == (None, None, None)


def test_unknown_model_has_no_ceiling_rather_than_an_error():
    assert decode_ceiling_tok_s(None) is None
    assert decode_ceiling_tok_s("no-such-model-anywhere") is None


def test_explicit_bandwidth_scales_the_ceiling_when_the_catalog_knows_the_model():
    slow = decode_ceiling_tok_s("llama-3.3-70b", 100.0)
    if slow is None:
        pytest.skip("catalog does not resolve llama-3.3-70b here")
    assert decode_ceiling_tok_s("llama-3.3-70b", 200.0) == pytest.approx(2 * slow)
