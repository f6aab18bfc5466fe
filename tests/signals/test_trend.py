"""Measures by calendar quarter, and the listed-event rules, worked by hand (issue 16).

Eight cases of products P and Q with events E and F, by quarter of first receipt:
  2025-Q1: P:E, P:F, Q:E, Q:F   2025-Q2: P:E, P:E, Q:F   2025-Q3: Q:F
For the pair (P, E):
  cumulative Q1: a=1 b=1 c=1 d=1 -> PRR (1/2)/(1/2) = 1, ROR 1
  cumulative Q2: a=3 b=1 c=1 d=2 -> PRR (3/4)/(1/3) = 2.25, ROR 3*2/(1*1) = 6
  cumulative Q3: a=3 b=1 c=1 d=3 -> PRR (3/4)/(1/4) = 3, ROR 9,
                 ROR lower exp(ln 9 - 1.96 sqrt(1/3 + 1 + 1 + 1/3)) = 0.3666, IC log2(3.5 / (4*4/8 + 0.5))
  interval Q2: a=2 b=0 c=0 d=1 (PRR undefined: c/(c+d) = 0); interval Q3: no case of P or E.
"""
from __future__ import annotations

import math

import pandas as pd
import pytest

from pv_service.rules.signal_rules import ListedEvents, RisingDisproportionality, SeverityShift
from pv_service.signals.trend import listed_reasons, quarter_range, quarterly, rising, severity_shift

# As pair_counts(strata=["report_quarter"]) returns them: interval counts of cells with a > 0.
COUNTS = pd.DataFrame([
    ("P", "E", 20251, 1, 2, 2, 4), ("P", "F", 20251, 1, 2, 2, 4), ("Q", "E", 20251, 1, 2, 2, 4),
    ("Q", "F", 20251, 1, 2, 2, 4), ("P", "E", 20252, 2, 2, 2, 3), ("Q", "F", 20252, 1, 1, 1, 3),
    ("Q", "F", 20253, 1, 1, 1, 1),
], columns=["product", "event", "report_quarter", "a", "n_product", "n_event", "n_total"])


def test_quarter_range_crosses_years():
    assert quarter_range(20243, 20252) == [20243, 20244, 20251, 20252]


def test_cumulative_and_interval_measures_by_quarter():
    t = quarterly(COUNTS, [("P", "E")], 20254).set_index("quarter")
    assert list(t.index) == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
    assert list(t["a"]) == [1, 3, 3, 3] and list(t["n_total"]) == [4, 7, 8, 8]
    assert list(t["interval_a"]) == [1, 2, 0, 0] and list(t["interval_n_total"]) == [4, 3, 1, 0]
    assert t.loc["2025-Q1", "prr"] == pytest.approx(1.0) and t.loc["2025-Q1", "ror"] == pytest.approx(1.0)
    assert t.loc["2025-Q2", "prr"] == pytest.approx(2.25) and t.loc["2025-Q2", "ror"] == pytest.approx(6.0)
    assert t.loc["2025-Q3", "prr"] == pytest.approx(3.0) and t.loc["2025-Q3", "ror"] == pytest.approx(9.0)
    assert t.loc["2025-Q3", "ror_lower"] == pytest.approx(math.exp(math.log(9) - 1.96 * math.sqrt(1 / 3 + 1 + 1 + 1 / 3)))
    assert t.loc["2025-Q3", "ic"] == pytest.approx(math.log2(3.5 / 2.5))
    assert t.loc["2025-Q1", "interval_prr"] == pytest.approx(1.0)
    assert math.isinf(t.loc["2025-Q2", "interval_prr"])
    assert math.isnan(t.loc["2025-Q4", "interval_prr"])  # an empty quarter: undefined, not zero
    # The last cumulative quarter is the whole data set's crude 2x2 table.
    assert t.loc["2025-Q4", ["a", "n_product", "n_event", "n_total"]].tolist() == [3, 4, 4, 8]


def test_rising_needs_each_quarter_higher_and_the_last_above_the_minimum():
    rule = RisingDisproportionality(measure="ror_lower", quarters=3, min_increase=0.1, minimum=2)
    assert rising([1.0, 1.5, 2.0, 2.5], rule) is not None
    assert rising([1.0, 1.5, 1.55, 2.5], rule) is None  # +0.05 is not above min_increase
    assert rising([1.0, 1.2, 1.4, 1.6], rule) is None  # still below 2
    assert rising([1.5, 2.0, 2.5], rule) is None  # 3 rises need 4 quarters
    assert rising([1.0, None, 2.0, 2.5], rule) is None


def test_severity_shift_compares_recent_quarters_with_the_ones_before():
    rule = SeverityShift(recent_quarters=2, min_increase=0.25, min_recent_cases=3)
    # before: 1 serious of 4 (25%); recent: 3 of 4 (75%): +50 points
    assert severity_shift([2, 2, 1, 3], [0, 1, 1, 2], rule) is not None
    # recent 2 of 4 (50%): +25 points is enough (>=)
    assert severity_shift([2, 2, 2, 2], [0, 1, 1, 1], rule) is not None
    assert severity_shift([2, 2, 1, 1], [0, 1, 1, 1], rule) is None  # 2 recent cases < 3
    assert severity_shift([0, 0, 2, 2], [0, 0, 2, 2], rule) is None  # nothing before to compare with


def test_listed_reasons_without_rules_is_never():
    t = quarterly(COUNTS, [("P", "E")], 20254)
    assert listed_reasons(t, None) == [] and listed_reasons(t, ListedEvents()) == []
    rule = ListedEvents(rising_disproportionality=RisingDisproportionality(measure="ror", quarters=1))
    assert listed_reasons(t.iloc[:2], rule) == ["ror rose in each of the last 1 quarters (1.00 -> 6.00)"]
