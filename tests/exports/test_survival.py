"""Kaplan-Meier against hand-worked examples."""
from __future__ import annotations

import numpy as np
import pytest

from pv_service.exports.survival import kaplan_meier, median_time, survival_at


def test_hand_worked_example_with_a_tie():
    # times 1 2 2 3 4 5, events 1 1 0 1 0 1 (0 = censored). By hand:
    #   t=1: 6 at risk, 1 event  -> S = 5/6              = 0.833333
    #   t=2: 5 at risk, 1 event, 1 censored (the event counts first)
    #                            -> S = 5/6 * 4/5 = 4/6   = 0.666667
    #   t=3: 3 at risk, 1 event  -> S = 4/6 * 2/3 = 8/18  = 0.444444
    #   t=4: 2 at risk, censored -> S unchanged            = 0.444444
    #   t=5: 1 at risk, 1 event  -> S = 0
    km = kaplan_meier([2, 1, 3, 2, 5, 4], [1, 1, 1, 0, 1, 0])
    assert km["time"].tolist() == [1, 2, 3, 4, 5]
    assert km["n_at_risk"].tolist() == [6, 5, 3, 2, 1]
    assert km["n_events"].tolist() == [1, 1, 1, 0, 1]
    assert km["n_censored"].tolist() == [0, 1, 0, 1, 0]
    assert km["survival"].to_numpy() == pytest.approx([5 / 6, 4 / 6, 8 / 18, 8 / 18, 0.0])
    assert survival_at(km, 0.5) == 1.0  # before the first event
    assert survival_at(km, 2) == pytest.approx(4 / 6)  # right-continuous: the drop at 2 counts
    assert survival_at(km, 3.5) == pytest.approx(8 / 18)
    assert survival_at(km, 6) is None  # past the last observation
    assert median_time(km) == 3  # first time with S <= 0.5


def test_published_example_6mp_arm():
    # The 6-MP arm of Freireich et al. (Blood 1963; 21:699), weeks of remission, 9 relapses and
    # 12 censored; its product-limit estimate is the worked example of Kleinbaum and Klein,
    # "Survival Analysis: A Self-Learning Text", chapter 2: S = 0.857 (6), 0.807 (7), 0.753 (10),
    # 0.690 (13), 0.627 (16), 0.538 (22), 0.448 (23).
    t = [6, 6, 6, 7, 10, 13, 16, 22, 23, 6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
    e = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    km = kaplan_meier(t, e)
    events = km[km["n_events"] > 0]
    assert events["time"].tolist() == [6, 7, 10, 13, 16, 22, 23]
    assert events["survival"].round(3).tolist() == [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448]
    assert median_time(km) == 23


def test_all_censored_and_empty():
    km = kaplan_meier([3, 1, 2], [False, False, False])
    assert km["survival"].tolist() == [1.0, 1.0, 1.0]
    assert median_time(km) is None
    empty = kaplan_meier(np.array([]), np.array([], bool))
    assert empty.empty and survival_at(empty, 1) is None


def test_event_at_time_zero_and_bad_input():
    km = kaplan_meier([0, 0, 5], [1, 0, 0])  # a patient lost without any visit: event at day 0
    assert km["survival"].tolist() == pytest.approx([2 / 3, 2 / 3])
    with pytest.raises(ValueError):
        kaplan_meier([-1], [1])
    with pytest.raises(ValueError):
        kaplan_meier([1, np.nan], [1, 1])
    with pytest.raises(ValueError):
        kaplan_meier([1, 2], [1])
