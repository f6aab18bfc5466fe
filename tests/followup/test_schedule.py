"""The timepoint grid. Expected dates are worked by hand from the fixture plans
(tests/rules/fixture_alerts/followup_plans.yaml), not taken from the code."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from followup_helpers import D, treatments_df, ts
from pv_service.followup.schedule import add_months, build_schedule, to_days


def _add_months(day: str, months: int) -> str:
    out = add_months(np.array([to_days(D(day))]), months)[0]
    return str(np.datetime64(int(out), "D"))


@pytest.mark.parametrize("start, months, expected", [
    ("2024-02-29", 12, "2025-02-28"),  # leap day + 1 year: clamped to 28 Feb
    ("2024-02-29", 48, "2028-02-29"),  # + 4 years lands on a leap year again
    ("2024-01-31", 1, "2024-02-29"),  # end of month, leap February
    ("2023-01-31", 1, "2023-02-28"),
    ("2023-03-31", 1, "2023-04-30"),
    ("2023-12-15", 1, "2024-01-15"),  # year rollover
    ("2020-01-10", 180, "2035-01-10"),
])
def test_calendar_month_arithmetic(start, months, expected):
    assert _add_months(start, months) == expected


def test_car_t_grid_early_timepoints(rules):
    # infusion 2020-01-10; windows D28 +-7, M3 +-7, M6 +-14, M12 +-30 (fixture plan)
    grid = build_schedule(treatments_df([(1, 1, "car_t_lifelong", "2020-01-10")]), rules, D("2020-03-01"))
    rows = grid.set_index("label")
    assert rows.loc["D28", "due_date"] == ts("2020-02-07")  # 10 Jan + 28 days
    assert rows.loc["D28", "window_start"] == ts("2020-01-31")
    assert rows.loc["D28", "window_end"] == ts("2020-02-14")
    assert rows.loc["D28", "overdue_until"] == ts("2020-02-28")  # grace 14 days
    assert rows.loc["M3", "due_date"] == ts("2020-04-10")
    assert rows.loc["M3", "overdue_until"] == ts("2020-05-08")  # 17 Apr + 21 days
    assert rows.loc["M6", "window_start"] == ts("2020-06-26")
    assert rows.loc["M6", "overdue_until"] == ts("2020-08-23")  # 24 Jul + 30
    assert rows.loc["M12", "window_start"] == ts("2020-12-11")
    assert rows.loc["M12", "window_end"] == ts("2021-02-09")
    assert rows.loc["M12", "overdue_until"] == ts("2021-04-10")  # 9 Feb 2021 + 60 (plan grace)
    # every listed timepoint is in the grid even before it is due; no lifelong contact yet
    assert list(grid["label"].astype(str)) == ["D28", "M3", "M6", "M12"] + [f"Y{n}" for n in range(2, 16)]
    assert list(grid["ordinal"]) == list(range(18))


def test_leap_day_infusion(rules):
    grid = build_schedule(treatments_df([(7, 1, "car_t_lifelong", "2024-02-29")]), rules, D("2024-03-01"))
    due = dict(zip(grid["label"].astype(str), grid["due_date"]))
    assert due["D28"] == ts("2024-03-28")
    assert due["M3"] == ts("2024-05-29")
    assert due["M6"] == ts("2024-08-29")
    assert due["M12"] == ts("2025-02-28")  # Feb 29 + 1 year
    assert due["Y2"] == ts("2026-02-28")
    assert due["Y4"] == ts("2028-02-29")  # a leap year again
    assert due["Y5"] == ts("2029-02-28")


def test_lifelong_grid_continues_past_year_15(rules):
    # infusion 2005-03-15: Y15 due 2020-03-15; yearly contacts Y16.. (+-30 days).
    # as of 2023-06-01 the Y18 window (2023-02-13..2023-04-14) has opened; Y19's opens
    # 2024-02-14, so Y19 is the last row (next to come) and there is no Y20.
    grid = build_schedule(treatments_df([(1, 1, "car_t_lifelong", "2005-03-15")]), rules, D("2023-06-01"))
    labels = list(grid["label"].astype(str))
    assert labels[-5:] == ["Y15", "Y16", "Y17", "Y18", "Y19"]
    rows = grid.set_index("label")
    assert rows.loc["Y16", "due_date"] == ts("2021-03-15")
    assert rows.loc["Y18", "window_start"] == ts("2023-02-13")
    assert rows.loc["Y18", "window_end"] == ts("2023-04-14")
    assert rows.loc["Y19", "due_date"] == ts("2024-03-15")
    # ... and it keeps growing with the as-of date, forever
    later = build_schedule(treatments_df([(1, 1, "car_t_lifelong", "2005-03-15")]), rules, D("2060-01-01"))
    assert later["label"].astype(str).iloc[-1] == "Y55"  # Y54 window opened 2058-12-13; Y55 is next


def test_fixed_plan_ends(rules):
    grid = build_schedule(treatments_df([(1, 1, "stem_cell_5y", "2019-06-01")]), rules, D("2040-01-01"))
    assert list(grid["label"].astype(str)) == ["M1", "M3", "M6", "M12", "Y2", "Y3", "Y4", "Y5"]
    assert grid["due_date"].iloc[-1] == ts("2024-06-01")


def test_mixed_plans_vectorised(rules):
    t = treatments_df([
        (1, 1, "stem_cell_5y", "2019-06-01"),
        (2, 2, "car_t_lifelong", "2000-01-01"),
        (3, 3, "tight", "2021-01-01"),
    ])
    grid = build_schedule(t, rules, D("2020-01-01"))
    counts = grid.groupby("treatment_id").size().to_dict()
    # car_t from 2000: Y15 due 2015, lifelong Y16..Y20 (Y20 window opened 2019-12-02), Y21 next
    assert counts == {1: 8, 2: 18 + 6, 3: 2}
    assert grid.groupby("treatment_id")["due_date"].is_monotonic_increasing.all()


def test_unknown_plan_is_an_error(rules):
    with pytest.raises(ValueError, match="unknown follow-up plan"):
        build_schedule(treatments_df([(1, 1, "no_such_plan", "2020-01-01")]), rules, D("2021-01-01"))


def test_plan_for_modality(rules):
    fr = rules.followup
    assert fr.plan_for("car_t") == "car_t_lifelong"
    assert fr.plan_for("stem_cell") == "stem_cell_5y"
    assert fr.plan_for("stem_cell", "tight") == "tight"
    with pytest.raises(KeyError):
        fr.plan_for("other")
    with pytest.raises(KeyError):
        fr.plan_for("car_t", "typo_plan")


def test_empty_cohort(rules):
    empty = pd.DataFrame({"treatment_id": [], "patient_id": [], "plan": [], "infusion_date": []})
    assert len(build_schedule(empty, rules, D("2021-01-01"))) == 0
