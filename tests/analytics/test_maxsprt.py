"""Poisson MaxSPRT: exact critical values against the table published with the method, the type I
error against simulation, the LLR by hand, and expected-count accrual against day-by-day sums."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pv_service.analytics.incidence import accrued
from pv_service.analytics.maxsprt import boundary_expected, critical_value, llr, monitor, type1_error

# Critical values for alpha = 0.05 (Kulldorff et al. 2011, Sequential Analysis 30:58, Table 1, M = 1;
# Kulldorff and Silva 2015 for M > 1), as tabulated in R's Sequential package (CV.Poisson's
# precomputed table, D = 0): (T, M, CV).
PUBLISHED = [
    (1, 1, 2.85393700326128), (1, 2, 2.36663822744395), (2, 1, 3.0469774628286), (2, 4, 2.00015758807598),
    (5, 2, 3.01290868171239), (10, 1, 3.46795158033368), (10, 4, 2.92156132978567), (10, 10, 2.2814406139523),
    (20, 1, 3.62812301587201), (50, 3, 3.54482617261637), (100, 1, 3.95232090599911),
    (100, 4, 3.63650814981748), (1000, 1, 4.32491732176988),
]


@pytest.mark.parametrize("T,M,cv", PUBLISHED)
def test_critical_values_match_the_published_table(T, M, cv):
    assert critical_value(T, 0.05, M) == pytest.approx(cv, abs=1e-7)


def test_type_one_error_against_simulation():
    """Simulate the null: Poisson process of rate 1 in expected-count time, stop at T = 5."""
    T, M = 5.0, 1
    cv = critical_value(T, 0.05, M)
    rng = np.random.default_rng(11)
    runs, signals = 40_000, 0
    gaps = rng.exponential(1.0, size=(runs, 40))
    times = np.cumsum(gaps, axis=1)
    k = np.arange(1, 41)
    path = np.where(times <= T, llr(k[None, :], times), 0.0)
    signals = int(((path >= cv) & (k[None, :] >= M)).any(axis=1).sum())
    # exact 0.05; 40,000 runs give a standard error of 0.0011
    assert signals / runs == pytest.approx(0.05, abs=0.004)
    assert type1_error(cv, T, M) == pytest.approx(0.05, abs=1e-8)


def test_llr_and_boundary_by_hand():
    # 4 events when 0.5 expected: 4 log 8 - 3.5 = 4.8178
    assert llr([4], [0.5])[0] == pytest.approx(4 * math.log(8) - 3.5)
    assert llr([1], [2.0])[0] == 0.0  # fewer than expected: no evidence of an excess
    mu = boundary_expected([4], 3.0)[0]
    assert llr([4], [mu])[0] == pytest.approx(3.0) and mu < 4


def test_monitor_signals_at_the_first_crossing_with_enough_events():
    cv = critical_value(10, 0.05, 4)
    # events when 0.1, 0.2, 0.3, 0.4 were expected: the 4th event's LLR is 4 log 10 - 3.6 = 5.61 >= 2.92
    got = monitor([0.1, 0.2, 0.3, 0.4], 1.0, 4, cv, 10, 4)
    assert got["signalled"] and got["signal_event"] == 4
    assert got["llr"] == pytest.approx(4 * math.log(4) - 3)  # now: 4 observed, 1 expected
    quiet = monitor([0.1, 0.2, 0.3], 1.0, 3, cv, 10, 4)  # three events: M = 4 not reached
    assert not quiet["signalled"] and not quiet["surveillance_ended"]
    ended = monitor([3.0, 6.0], 10.5, 2, cv, 10, 4)
    assert ended["surveillance_ended"] and not ended["signalled"]


def test_bad_design_is_refused():
    with pytest.raises(ValueError, match="cannot reach alpha"):
        critical_value(1, 0.05, 4)  # P(N >= 4 | mu = 1) = 0.019 < 0.05


def test_accrual_against_day_by_day_sums():
    rng = np.random.default_rng(5)
    start = rng.integers(0, 300, 40).astype(float)
    days = rng.integers(0, 200, 40).astype(float)
    rate = rng.random(40) / 100
    at = np.array([0, 50, 123, 250, 400, 600], dtype=float)
    brute = [sum(r * max(0.0, min(d, s + n) - s) for s, n, r in zip(start, days, rate)) for d in at]
    assert accrued(start, days, rate, at) == pytest.approx(brute)
