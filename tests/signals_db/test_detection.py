"""Signal rules applied to measures: checked against the thresholds written out by hand."""
from __future__ import annotations

import math

import pandas as pd

from pv_service.rules import load_rules
from pv_service.signals.detection import flag_pairs, should_reopen

RULES = load_rules("alerts").signals  # combine: 2 of prr / ror / ic / ebgm, min_count 3


def row(**kw):
    base = {"product": "P", "event": "E", "n": 5, "prr": 1.0, "chi2": 0.0, "ror": 1.0, "ror_lower": 0.5,
            "ic": 0.0, "ic025": -1.0, "ebgm": 1.0, "eb05": 0.5}
    return base | kw


def test_two_of_four_criteria_are_needed():
    table = pd.DataFrame([
        row(event="prr-only", prr=2.0, chi2=4.0),                       # 1 criterion
        row(event="prr+ror", prr=2.0, chi2=4.0, ror_lower=1.01),        # 2
        row(event="ror-at-bound", prr=2.0, chi2=4.0, ror_lower=1.0),    # ror needs > 1: 1 criterion
        row(event="ic+eb05", ic025=0.01, eb05=2.0),                     # 2
        row(event="too-few", n=2, prr=9, chi2=9, ror_lower=3, ic025=1, eb05=3),  # n < 3
        row(event="undefined", prr=math.inf, chi2=math.nan, ror_lower=None, ic025=0.5, eb05=None),
    ])
    flagged = flag_pairs(table, RULES)
    assert list(flagged["event"]) == ["prr+ror", "ic+eb05"]
    assert flagged["criteria_met"].tolist() == [["prr", "ror"], ["ic", "ebgm"]]


def test_reopen_needs_clearly_more_evidence():
    kw = dict(min_new_cases=3, growth_factor=1.5, dme_any_new_case=True)
    assert not should_reopen(6, 4, designated=False, **kw)       # +2 only
    assert not should_reopen(13, 10, designated=False, **kw)     # +3 but x1.3
    assert should_reopen(15, 10, designated=False, **kw)         # +5 and x1.5
    assert should_reopen(2, 1, designated=True, **kw)            # any new DME case
    assert not should_reopen(1, 1, designated=True, **kw)
    assert not should_reopen(9, None, designated=False, **kw)    # never closed
