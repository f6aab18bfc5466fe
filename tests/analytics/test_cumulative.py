"""Aalen-Johansen against a hand computation, against lifelines, and against 1 - KM without deaths."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pv_service.analytics.cumulative import aalen_johansen, cumulative_incidence, km_incidence, value_at


def test_hand_computation_with_a_competing_death():
    """Times 1 event, 2 death, 3 censored, 4 event, 5 censored (n = 5).
    t=1: n=5, F = 1/5 = 0.2, S = 0.8;  t=2: death, F stays 0.2, S = 0.8 x 3/4 = 0.6;
    t=3: censored; t=4: n=2, F = 0.2 + 0.6 x 1/2 = 0.5.  (1 - KM with the death censored would say
    1 - 0.8 x 1/2 = 0.6 at t=4: it overstates the risk, the competing death matters.)"""
    curve = aalen_johansen([1, 2, 3, 4, 5], [1, 2, 0, 1, 0])
    assert list(curve["estimate"]) == pytest.approx([0.2, 0.2, 0.2, 0.5, 0.5])
    assert list(curve["n_at_risk"]) == [5, 4, 3, 2, 1]
    naive = km_incidence([1, 2, 3, 4, 5], [True, False, False, True, False])
    assert naive["estimate"].iloc[3] == pytest.approx(1 - 0.8 * 0.5)
    # variance at t=1 by the formula: b_1 = 1 * 1 * 4 / 125 = 0.032 (binomial 0.2 x 0.8 / 5)
    assert curve["variance"].iloc[0] == pytest.approx(0.2 * 0.8 / 5)


def test_ties_between_event_types_are_exact():
    """At t=1 one event and one death among 4: F = 1/4; S = 2/4; at t=2 one event among 2: F = 1/4 + 1/2 x 1/2."""
    curve = aalen_johansen([1, 1, 2, 3], [1, 2, 1, 0])
    assert list(curve["estimate"]) == pytest.approx([0.25, 0.5, 0.5])


def _lifelines(t, s):
    from lifelines import AalenJohansenFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ajf = AalenJohansenFitter(calculate_variance=True)
        ajf.fit(t, s, event_of_interest=1)
    return ajf


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 300))
def test_matches_lifelines_without_ties(seed, n):
    rng = np.random.default_rng(seed)
    t = rng.exponential(100, n) + rng.random(n) * 1e-3  # continuous: no ties, so lifelines does not jitter
    s = rng.choice([0, 1, 2], size=n, p=[0.5, 0.3, 0.2])
    ours = aalen_johansen(t, s)
    ajf = _lifelines(t, s)
    ref = ajf.cumulative_density_.iloc[:, 0]
    assert ours["estimate"].to_numpy() == pytest.approx(ref.reindex(ours["time"]).to_numpy(), abs=1e-10)
    var = ajf.variance_.reindex(ours["time"]).to_numpy()
    finite = np.isfinite(var)  # lifelines divides by zero where everyone left at risk has the event
    assert ours["variance"].to_numpy()[finite] == pytest.approx(var[finite], rel=1e-7, abs=1e-12)
    ci = ajf.confidence_interval_.reindex(ours["time"])
    ok = (ours["estimate"] > 0).to_numpy() & finite & (ours["estimate"] < 1).to_numpy()
    lo, hi = np.minimum(ci.iloc[:, 0], ci.iloc[:, 1]).to_numpy(), np.maximum(ci.iloc[:, 0], ci.iloc[:, 1]).to_numpy()
    assert ours["lower"].to_numpy()[ok] == pytest.approx(lo[ok], rel=1e-6)
    assert ours["upper"].to_numpy()[ok] == pytest.approx(hi[ok], rel=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 200))
def test_properties(seed, n):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 50, n).astype(float)  # ties on purpose
    s = rng.choice([0, 1, 2], size=n)
    curve = aalen_johansen(t, s)
    f = curve["estimate"].to_numpy()
    assert (np.diff(f) >= -1e-12).all() and (f >= 0).all() and (f <= 1 + 1e-12).all()
    assert ((curve["lower"] <= f + 1e-12) & (f <= curve["upper"] + 1e-12)).all()
    # without competing events Aalen-Johansen is exactly 1 - Kaplan-Meier
    s1 = np.where(s == 2, 0, s)
    method, c1 = cumulative_incidence(t, s1)
    assert method == "kaplan_meier"
    assert aalen_johansen(t, s1)["estimate"].to_numpy() == pytest.approx(c1["estimate"].to_numpy())


def test_value_at():
    curve = aalen_johansen([1, 2, 3, 4, 5], [1, 2, 0, 1, 0])
    assert value_at(curve, 0.5)["estimate"] == 0.0
    assert value_at(curve, 4.5)["estimate"] == pytest.approx(0.5)
    assert value_at(curve, 4.5)["n_at_risk"] == 1
    assert value_at(curve, 6) is None
