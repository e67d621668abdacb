"""Interval arithmetic: Wilson bounds against published values, bootstraps that cover and are
seeded, too few samples give no bounds, and overlap decides "within noise"."""

from __future__ import annotations

import numpy as np
import pytest

from lanekit.results.stats import (
    Interval,
    bootstrap,
    median_mad,
    noise_groups,
    ratio_bootstrap,
    stratified_mean,
    wilson,
)


@pytest.mark.parametrize(
    "k,n,low,high",
    [
        # Wilson 95% bounds (Newcombe 1998, Table I; also statsmodels proportion_confint method="wilson")
        (8, 10, 0.4902, 0.9433),
        (0, 8, 0.0, 0.3244),
        (10, 10, 0.7225, 1.0),
        (1, 29, 0.0061, 0.1718),
        (81, 263, 0.2553, 0.3662),
    ],
)
def test_wilson_matches_published_bounds(k, n, low, high):
    iv = wilson(k, n)
    assert iv.point == pytest.approx(k / n)
    assert iv.low == pytest.approx(low, abs=5e-4) and iv.high == pytest.approx(high, abs=5e-4)
    assert iv.n == n and iv.method == "wilson"


def test_wilson_is_never_zero_width_and_needs_a_trial():
    assert wilson(0, 3).high > 0.3 and wilson(3, 3).low < 0.7
    empty = wilson(0, 0)
    assert empty.point is None and not empty.bounded and empty.n == 0
    with pytest.raises(ValueError):
        wilson(4, 3)


def test_bootstrap_median_is_seeded_and_brackets_the_median():
    values = [10.0, 10.4, 9.8, 10.1, 10.3, 9.9, 10.2]
    a, b = bootstrap(values), bootstrap(values)
    assert a == b  # same samples, same interval: a re-rendered profile shows the same numbers
    assert a.point == pytest.approx(10.1) and a.low <= a.point <= a.high
    assert 9.8 <= a.low and a.high <= 10.4 and a.n == 7


def test_bootstrap_covers_the_true_median_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    hits = 0
    trials = 200
    for seed in range(trials):
        sample = rng.normal(100.0, 5.0, size=25)
        iv = bootstrap(sample, seed=seed, resamples=600)
        hits += iv.low <= 100.0 <= iv.high
    assert 0.88 <= hits / trials <= 0.995


def test_too_few_samples_give_a_point_without_bounds():
    iv = bootstrap([5.0, 6.0])
    assert iv.point == 5.5 and not iv.bounded and iv.n == 2
    assert bootstrap([]).point is None
    assert bootstrap([1.0, None, float("nan"), 3.0, 2.0]).n == 3  # missing and NaN samples do not count


def test_median_mad_scales_to_sigma():
    med, mad = median_mad([1, 2, 3, 4, 100])
    assert med == 3 and mad == pytest.approx(1.4826)
    assert median_mad([]) == (None, None)


def test_stratified_mean_counts_only_repeat_noise_not_the_turn_mix():
    # three very different turns (0.1 s, 1 s, 5 s), each repeated with ±1% noise
    strata = [[0.100, 0.101, 0.099], [1.00, 1.01, 0.99], [5.00, 5.05, 4.95]]
    iv = stratified_mean(strata)
    assert iv.point == pytest.approx((0.1 + 1.0 + 5.0) / 3)
    assert iv.half_width < 0.05 and iv.n == 9
    # the pooled bootstrap over all nine values calls the mix noise: ten times wider
    assert bootstrap([v for s in strata for v in s], stat="mean").half_width > 10 * iv.half_width
    # one request measured fewer than three times: no bounds
    assert not stratified_mean([[1.0, 1.1, 0.9], [2.0, 2.1]]).bounded


def test_ratio_bootstrap_seconds_per_success():
    wall = [10.0, 12.0, 11.0, 30.0]
    success = [1, 1, 1, 0]
    iv = ratio_bootstrap(wall, success)
    assert iv.point == pytest.approx(63.0 / 3)
    assert iv.low < iv.point < iv.high
    assert ratio_bootstrap([5.0, 6.0, 7.0], [0, 0, 0]).point is None  # no success: no seconds per success


def test_overlap_and_noise_groups():
    a = Interval(point=10, low=9, high=11, n=5)
    b = Interval(point=10.5, low=9.5, high=11.5, n=5)
    c = Interval(point=20, low=19, high=21, n=5)
    assert a.overlaps(b) and not a.overlaps(c)
    assert Interval(point=1, n=1).overlaps(c)  # without bounds nothing can be told apart
    assert noise_groups([a, b, c]) == [0, 0, 1]
    # a chain whose ends do not overlap starts a new group where the chain breaks
    d = Interval(point=11.8, low=11.2, high=12.4, n=5)
    assert noise_groups([a, b, d]) == [0, 0, 1]


def test_render_states_the_sample_size():
    assert Interval(point=1.234, low=1.1, high=1.4, n=9).render() == "1.23 [1.10–1.40] n=9"
    assert Interval(point=1.234, n=2).render() == "1.23 n=2"
    assert Interval().render() == "–"
