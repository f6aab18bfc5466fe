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
