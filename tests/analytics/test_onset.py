"""Time to onset: periods and quartiles by hand; the Weibull shape against simulated cohorts of a
known shape, against scipy's censored maximum likelihood, and as properties (hypothesis)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pv_service.analytics.onset import by_period, summary, weibull_shape
from pv_service.rules.analytics import OnsetPeriod

PERIODS = (OnsetPeriod(label="0-30 days", until_days=30), OnsetPeriod(label="1-12 months", until_days=365),
           OnsetPeriod(label="1-5 years", until_days=1826), OnsetPeriod(label="later"))


def test_periods_and_quartiles_by_hand():
    days = [0, 30, 31, 365, 366, 1826, 1827, 4000]
    got = by_period(days, PERIODS)
    assert [p["n"] for p in got] == [2, 2, 2, 2]  # a period includes its last day
    assert [(p["from_days"], p["until_days"]) for p in got] == [(0, 30), (31, 365), (366, 1826), (1827, None)]
    s = summary([10, 20, 30, 40, 50])
    assert (s["median_days"], s["q1_days"], s["q3_days"]) == (30, 20, 40)


def _simulate(rng, k, n, scale=400.0, censor_at=None):
    t = scale * rng.weibull(k, n)
    if censor_at is None:
        return t, np.ones(n, bool)
    c = rng.uniform(0, censor_at, n)
    return np.minimum(t, c), t <= c


@pytest.mark.parametrize("k", [0.6, 1.0, 1.8])
def test_shape_of_a_large_simulated_cohort(k):
    rng = np.random.default_rng(17)
    t, obs = _simulate(rng, k, 4000, censor_at=1500)
    fit = weibull_shape(t, obs)
    assert fit["shape"] == pytest.approx(k, rel=0.06)
    wide = weibull_shape(t, obs, level=0.999)  # one sample: the 95% interval misses 1 time in 20
    assert wide["shape_lower"] < k < wide["shape_upper"]
    assert fit["scale_days"] == pytest.approx(400, rel=0.08)
    assert wide["hazard"] == {0.6: "falling", 1.0: "constant_or_unclear", 1.8: "rising"}[k]


def test_interval_covers_the_true_shape_about_95_percent_of_the_time():
    rng = np.random.default_rng(20261201)
    hits = 0
    runs = 300
    for _ in range(runs):
        t, obs = _simulate(rng, 1.5, 150, censor_at=900)
        fit = weibull_shape(t, obs)
        hits += fit["shape_lower"] <= 1.5 <= fit["shape_upper"]
    assert 0.91 <= hits / runs <= 0.985


def test_matches_scipy_censored_fit():
    rng = np.random.default_rng(3)
    t, obs = _simulate(rng, 1.3, 500, censor_at=800)
    ours = weibull_shape(t, obs)
    data = stats.CensoredData(uncensored=t[obs], right=t[~obs])
    c, _, scale = stats.weibull_min.fit(data, floc=0)
    assert ours["shape"] == pytest.approx(c, rel=1e-3)
    assert ours["scale_days"] == pytest.approx(scale, rel=1e-3)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.floats(0.4, 3.0), factor=st.floats(0.01, 100))
def test_shape_is_scale_free_and_inside_its_interval(seed, k, factor):
    rng = np.random.default_rng(seed)
    t, obs = _simulate(rng, k, 60, censor_at=800)
    a = weibull_shape(t, obs)
    b = weibull_shape(t * factor, obs)
    if a is None:
        assert b is None
        return
    assert b["shape"] == pytest.approx(a["shape"], rel=1e-5)
    assert a["shape_lower"] <= a["shape"] <= a["shape_upper"]


def test_too_little_data():
    assert weibull_shape([10.0], [True]) is None
    assert weibull_shape([10.0, 10.0, 30.0], [True, True, False]) is None
    assert summary([])["median_days"] is None
