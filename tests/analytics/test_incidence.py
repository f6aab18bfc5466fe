"""Garwood limits and SIR against independent routes: published exact Poisson limits, the
defining tail equations (scipy's Poisson distribution, not its chi-square), and hand sums."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pv_service.analytics.incidence import expected_events, garwood, rate_table, sir
from pv_service.analytics.persontime import attained_age_split
from pv_service.rules.analytics import BackgroundRate

# Exact 95% limits of a Poisson mean (the usual tables, e.g. Ulm 1990, Am J Epidemiol 131:373;
# Breslow and Day 1987, vol. II, Appendix II): k, lower, upper.
PUBLISHED = [(0, 0.0, 3.689), (1, 0.0253, 5.572), (2, 0.2422, 7.225), (3, 0.6186, 8.767),
             (5, 1.6235, 11.668), (10, 4.7954, 18.390)]


@pytest.mark.parametrize("k,lower,upper", PUBLISHED)
def test_garwood_matches_published_limits(k, lower, upper):
    lo, hi = garwood([k])
    assert lo[0] == pytest.approx(lower, abs=6e-4)
    assert hi[0] == pytest.approx(upper, abs=6e-4)


@settings(max_examples=60, deadline=None)
@given(k=st.integers(0, 400), level=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_garwood_solves_the_tail_equations(k, level):
    """Lower: P(X >= k | mu) = a/2; upper: P(X <= k | mu) = a/2 (Poisson tails, no chi-square)."""
    a = 1 - level
    lo, hi = garwood([k], level)
    if k > 0:
        assert stats.poisson.sf(k - 1, lo[0]) == pytest.approx(a / 2, rel=1e-6)
    else:
        assert lo[0] == 0
    assert stats.poisson.cdf(k, hi[0]) == pytest.approx(a / 2, rel=1e-6)
    assert lo[0] <= k <= hi[0]


def test_rate_table_by_stratum():
    frame = pd.DataFrame({"sex": ["male", "male", "female"], "days": [365.25 * 2, 365.25 * 3, 365.25 * 10],
                          "status": [1, 0, 1]})
    t = rate_table(frame, ["sex"]).set_index("sex")
    assert t.loc["male", "person_years"] == pytest.approx(5) and t.loc["male", "events"] == 1
    assert t.loc["male", "rate"] == pytest.approx(20.0)  # 1 event / 5 PY = 20 per 100 PY
    assert t.loc["female", "rate"] == pytest.approx(10.0)
    assert t.loc["female", "rate_upper"] == pytest.approx(100 * 5.5716 / 10, abs=1e-3)


def test_sir_by_hand():
    """Background bands 0-44, 45-59, 60+. Two men born 1960 (2 July) at risk from 2020-01-01 for 2192
    days: their 60th birthday is 1960-07-02 + 60 x 365.25 = 21915 days = 2020-07-02 exactly (60 years
    hold 15 leap days), so 183 days at 45-59 (1.0 per 100,000) and 2009 days at 60+ (3.0). One woman
    born 1990, 29.5 years old, 730.5 days at 0-44 (0.2)."""
    bg = BackgroundRate(group="G", source="hand-made test rates", per=100_000, age_bands=(0, 45, 60),
                        male=(0.5, 1.0, 3.0), female=(0.2, 0.6, 2.0))
    frame = pd.DataFrame({"start": pd.to_datetime(["2020-01-01", "2020-01-01", "2020-01-01"]),
                          "days": [2192, 2192, 730.5], "status": [1, 0, 1], "birth_year": [1960, 1960, 1990],
                          "sex": ["male", "male", "female"]})
    pieces = attained_age_split(frame, bg.age_bands)
    e = expected_events(pieces, frame["sex"].to_numpy()[pieces["row"].to_numpy()], bg)
    expected = 2 * (183 * 1e-5 + 2009 * 3e-5) / 365.25 + 730.5 / 365.25 * 0.2e-5
    assert e.sum() == pytest.approx(expected)
    got = sir(2, expected)
    assert got["sir"] == pytest.approx(2 / expected)
    assert got["sir_lower"] == pytest.approx(0.2422 / expected, rel=1e-3)
    assert got["sir_upper"] == pytest.approx(7.225 / expected, rel=1e-3)
    assert got["p_value"] == pytest.approx(1 - np.exp(-expected) * (1 + expected))
