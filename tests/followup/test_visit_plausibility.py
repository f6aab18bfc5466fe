"""Timepoint labels of visits, judged on the treatment's schedule (pv_service.followup.plausibility)."""
from __future__ import annotations

import pandas as pd

from pv_service.followup.plausibility import timepoint_check
from pv_service.followup.schedule import build_schedule
from tests.conftest import D


def _schedule(rules):
    frame = pd.DataFrame({"treatment_id": [1], "plan": ["car_t_lifelong"], "infusion_date": [D("2025-01-10")]})
    return build_schedule(frame, rules, D("2060-01-01"))


def check(rules, label, day):
    plan = rules.followup.plans["car_t_lifelong"]
    return timepoint_check(label, D(day), _schedule(rules), "car_t_lifelong",
                           tuple(tp.label for tp in plan.timepoints), plan.lifelong_contact.label)


def test_unknown_labels_are_problems_naming_the_known_ones(rules):
    for label in ("M4", "Y1", "m3", "Y{n}"):
        [p], [] = check(rules, label, "2025-05-01")
        assert p.loc == ("body", "timepoint") and "D28, M3, M6, M12" in p.msg and "Y{n} yearly for life" in p.msg


def test_a_label_counts_from_its_window_opening_to_the_end_of_its_grace(rules):
    # M3 due 2025-04-10, window +-7 days, grace 21: counts 2025-04-03 .. 2025-05-08
    assert check(rules, "M3", "2025-04-03") == ([], []) and check(rules, "M3", "2025-05-08") == ([], [])
    [], [w] = check(rules, "M3", "2025-04-02")
    assert "will not count toward M3" in w.msg and "fulfils no timepoint" in w.msg
    [], [w] = check(rules, "M3", "2025-07-05")  # M6 due 07-10 +-14
    assert "falls in the window of M6" in w.msg
    [], [w] = check(rules, "M12", "2025-08-25")  # 7.5 months: after M6's grace (ended 2025-08-23)
    assert "will not count toward M12" in w.msg and "2025-12-11" in w.msg
    assert check(rules, "Y16", "2041-01-10") == ([], [])  # a lifelong contact
