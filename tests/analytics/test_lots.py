"""Lot excess by hand: expected from the person-time share, exact binomial tails, Holm and BH."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pv_service.analytics.lots import adjust, holm, lot_excess


def test_lot_excess_by_hand():
    """10 events over three lots with person-time 100, 100, 200 days: shares 1/4, 1/4, 1/2, expected
    2.5, 2.5, 5. Lot A has 7: P(X >= 7 | Bin(10, 1/4)) = sum_{k=7}^{10} C(10,k) 0.25^k 0.75^(10-k)
    = 0.0035057; Holm multiplies the smallest of 3 p-values by 3: 0.010517."""
    lots = pd.DataFrame({"lot": ["A", "B", "C"], "patients": [10, 10, 20], "events": [7, 1, 2],
                         "days": [100.0, 100.0, 200.0]})
    out = lot_excess(lots, alpha=0.05, method="holm", min_events=3).set_index("lot")
    assert list(out["expected"].loc[["A", "B", "C"]]) == pytest.approx([2.5, 2.5, 5.0])
    p_a = sum(math.comb(10, k) * 0.25 ** k * 0.75 ** (10 - k) for k in range(7, 11))
    assert out.loc["A", "p_value"] == pytest.approx(p_a)
    assert out.loc["A", "p_adjusted"] == pytest.approx(3 * p_a)
    assert bool(out.loc["A", "flagged"]) and not out.loc[["B", "C"], "flagged"].any()
    strict = lot_excess(lots, alpha=0.05, method="holm", min_events=8)
    assert not strict["flagged"].any()  # too few events in the lot


def test_one_lot_is_never_flagged():
    out = lot_excess(pd.DataFrame({"lot": ["A"], "patients": [5], "events": [5], "days": [10.0]}))
    assert not out["flagged"].any() and out["p_value"].iloc[0] == 1.0


def test_holm_and_bh_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: sorted times 4/rank = 0.02, 0.02, 0.04, 0.04 -> running min from the top
    assert adjust(p, "benjamini_hochberg") == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_events_in_no_time_at_risk_are_not_estimable_not_the_strongest_evidence():
    """A lot whose events all fell on the day of infusion has no person-time: the binomial test gives
    P = 0 (its null cannot produce them), which sorted it first as the strongest evidence. It is not
    estimable: no p-value, not flagged, and left out of the adjustment of the others."""
    lots = pd.DataFrame({"lot": ["Z", "A", "B", "C"], "patients": [2, 10, 10, 10], "events": [2, 8, 1, 1],
                         "days": [0, 1000, 1000, 1000]})
    out = lot_excess(lots, alpha=0.05, method="holm", min_events=1).set_index("lot")
    assert math.isnan(out.loc["Z", "p_value"]) and math.isnan(out.loc["Z", "p_adjusted"])
    assert not out.loc["Z", "flagged"]
    assert list(out.index)[-1] == "Z"  # sorted last
    # the others: N = 12 events (Z's two included), each of A, B, C a third of the person-time
    from scipy import stats
    p_a = stats.binom.sf(7, 12, 1 / 3)
    assert out.loc["A", "p_value"] == pytest.approx(p_a)
    known = out.drop(index="Z")
    assert list(known["p_adjusted"]) == pytest.approx(list(holm(known["p_value"].to_numpy())))
