"""A cohort walked through the years with the as-of date moving forward.

Fixture plan car_t_lifelong (tests/rules/fixture_alerts/followup_plans.yaml), infusion
2020-01-10, worked by hand:
    label  due         window                    overdue until (grace)
    D28    2020-02-07  2020-01-31 .. 2020-02-14  2020-02-28 (14 d)
    M3     2020-04-10  2020-04-03 .. 2020-04-17  2020-05-08 (21 d)
    M6     2020-07-10  2020-06-26 .. 2020-07-24  2020-08-23 (30 d)
    M12    2021-01-10  2020-12-11 .. 2021-02-09  2021-04-10 (60 d)
    Y2     2022-01-10  2021-12-11 .. 2022-02-09  2022-04-10
    Y3     2023-01-10  2022-12-11 .. 2023-02-09  2023-04-10
    Y4     2024-01-10  2023-12-11 .. 2024-02-09  2024-04-09 (2024 is a leap year)
Lost to follow-up: 2 consecutive missed yearly timepoints, or 24 months without contact.
"""
from __future__ import annotations

import pandas as pd
import pytest

from followup_helpers import D, contacts_df, evaluate_compliance, p_status, run, t_row, tp_row, tp_status, treatments_df, ts

INF = "2020-01-10"


@pytest.fixture
def cohort():
    t = treatments_df([
        (1, 101, "car_t_lifelong", INF),  # A: on time, late, missed, labelled
        (2, 102, "car_t_lifelong", INF),  # B: stops coming after M12 -> lost (no contact)
        (3, 103, "car_t_missed_only", INF),  # C: misses Y2 and Y3 -> lost (missed), then returns
        (4, 104, "car_t_lifelong", INF),  # D: dies 2020-06-30
        (5, 104, "stem_cell_5y", "2019-06-01"),  # D's earlier stem-cell treatment
        (6, 106, "car_t_lifelong", INF),  # E: withdraws 2020-03-01
    ])
    c = contacts_df([
        # A
        (11, 1, "visit", "2020-02-05"),
        (12, 1, "visit", "2020-04-25"),  # after M3 window, in its grace -> late
        (13, 1, "visit", "2021-01-20", "M12"),
        # B
        (21, 2, "visit", "2020-02-07"), (22, 2, "visit", "2020-04-10"),
        (23, 2, "visit", "2020-07-10"), (24, 2, "visit", "2021-01-10"),
        # C
        (31, 3, "visit", "2020-02-07"), (32, 3, "visit", "2020-04-10"),
        (33, 3, "visit", "2020-07-10"), (34, 3, "visit", "2021-01-10"),
        (35, 3, "visit", "2023-06-01"),  # comes back: unscheduled (Y3 grace ended 2023-04-10)
        # D
        (41, 4, "visit", "2020-02-07"),
        (42, 4, "death", "2020-06-30"),
        (51, 5, "visit", "2019-07-01"), (52, 5, "visit", "2019-09-01"),
        # E
        (61, 6, "visit", "2020-02-07"),
        (62, 6, "withdrawal", "2020-03-01"),
    ])
    return t, c


def test_walk_patient_a(cohort, rules):
    t, c = cohort
    r = run(t, c, rules, "2020-02-01")
    assert tp_status(r, 1)["D28"] == "window_open"  # the visit of 5 Feb is in the future
    assert tp_status(r, 1)["M3"] == "not_yet_due"

    r = run(t, c, rules, "2020-02-20")
    d28 = tp_row(r, 1, "D28")
    assert (d28["status"], d28["contact_id"], d28["contact_date"]) == ("completed_on_time", 11, ts("2020-02-05"))

    r = run(t, c, rules, "2020-04-20")
    assert tp_status(r, 1)["M3"] == "overdue"  # window closed 17 Apr, grace to 8 May

    r = run(t, c, rules, "2020-05-01")
    m3 = tp_row(r, 1, "M3")
    assert (m3["status"], m3["contact_id"]) == ("completed_late", 12)

    r = run(t, c, rules, "2020-08-01")
    assert tp_status(r, 1)["M6"] == "overdue"
    assert t_row(r, 1)["n_overdue"] == 1
    assert str(t_row(r, 1)["next_label"]) == "M6"

    r = run(t, c, rules, "2020-08-24")
    assert tp_status(r, 1)["M6"] == "missed"  # day after the grace period
    assert str(t_row(r, 1)["next_label"]) == "M12"
    assert t_row(r, 1)["next_due_date"] == ts("2021-01-10")

    r = run(t, c, rules, "2021-03-01")
    st = tp_status(r, 1)
    assert [st[k] for k in ("D28", "M3", "M6", "M12", "Y2")] == [
        "completed_on_time", "completed_late", "missed", "completed_on_time", "not_yet_due"]
    row = t_row(r, 1)
    assert (row["n_completed_on_time"], row["n_completed_late"], row["n_missed"]) == (2, 1, 1)
    assert str(row["status"]) == "active"
    assert row["last_visit_date"] == ts("2021-01-20")
    assert p_status(r, 101) == "active"


def test_walk_patient_b_lost_by_no_contact(cohort, rules):
    t, c = cohort
    # last visit 2021-01-10; Y2 missed after 2022-04-10; 24 months without contact on 2023-01-10
    r = run(t, c, rules, "2023-01-09")
    assert str(t_row(r, 2)["status"]) == "active"
    assert t_row(r, 2)["missed_streak"] == 1
    r = run(t, c, rules, "2023-01-10")
    row = t_row(r, 2)
    assert str(row["status"]) == "lost_to_follow_up"
    assert (bool(row["lost_by_no_contact"]), bool(row["lost_by_missed_visits"])) == (True, False)
    assert p_status(r, 102) == "lost_to_follow_up"
    # after Y3's grace period both rules hold
    r = run(t, c, rules, "2023-04-11")
    row = t_row(r, 2)
    assert (bool(row["lost_by_no_contact"]), bool(row["lost_by_missed_visits"]), row["missed_streak"]) == (True, True, 2)


def test_walk_patient_c_lost_after_two_missed_yearly_visits(cohort, rules):
    t, c = cohort
    r = run(t, c, rules, "2023-04-10")  # Y2 missed, Y3 still overdue (last day of grace)
    assert tp_status(r, 3)["Y2"] == "missed"
    assert tp_status(r, 3)["Y3"] == "overdue"
    assert str(t_row(r, 3)["status"]) == "active"
    r = run(t, c, rules, "2023-04-11")  # Y3 missed: two consecutive yearly timepoints
    assert tp_status(r, 3)["Y3"] == "missed"
    assert str(t_row(r, 3)["status"]) == "lost_to_follow_up"
    assert p_status(r, 103) == "lost_to_follow_up"
    # the unscheduled visit of 2023-06-01 brings the patient back
    r = run(t, c, rules, "2023-06-02")
    assert tp_status(r, 3)["Y3"] == "missed"  # too late to fulfil Y3
    assert str(t_row(r, 3)["status"]) == "active"
    assert t_row(r, 3)["missed_streak"] == 0


def test_death_mid_schedule_stops_all_treatments_of_the_patient(cohort, rules):
    t, c = cohort
    r = run(t, c, rules, "2021-01-01")
    # CAR-T: D28 done; M3 missed (grace ended 8 May, before the death); M6 was open at
    # the death (26 Jun .. 24 Jul): not expected, nor anything later.
    assert tp_status(r, 4) == {"D28": "completed_on_time", "M3": "missed"}
    row = t_row(r, 4)
    assert (str(row["status"]), row["stop_date"]) == ("deceased", ts("2020-06-30"))
    # the stem-cell treatment (infused 2019-06-01) stops too: M1 (1 Jul) and M3 (1 Sep)
    # on time, M6 (due 2019-12-01, grace to 2020-01-14) missed; M12 (window 2020-05-02 ..
    # 2020-07-01) was open at the death: dropped.
    assert tp_status(r, 5) == {"M1": "completed_on_time", "M3": "completed_on_time", "M6": "missed"}
    assert str(t_row(r, 5)["status"]) == "deceased"
    pat = r.patients.set_index("patient_id").loc[104]
    assert (str(pat["status"]), pat["stop_date"], pat["n_treatments"]) == ("deceased", ts("2020-06-30"), 2)
    # the death is not yet known before it happens
    r = run(t, c, rules, "2020-06-29")
    assert str(t_row(r, 4)["status"]) == "active"
    assert tp_status(r, 4)["M6"] == "window_open"


def test_withdrawal(cohort, rules):
    t, c = cohort
    r = run(t, c, rules, "2025-01-01")
    assert tp_status(r, 6) == {"D28": "completed_on_time"}  # M3 (window opens 3 Apr) not expected
    assert str(t_row(r, 6)["status"]) == "withdrawn"
    assert p_status(r, 106) == "withdrawn"


def test_completed_fixed_plan(rules):
    t = treatments_df([(1, 1, "stem_cell_5y", "2019-06-01")])
    c = contacts_df([(i, 1, "visit", d) for i, d in enumerate(
        ["2019-07-01", "2019-09-01", "2019-12-01", "2020-06-01", "2021-06-01", "2022-06-01", "2023-06-01", "2024-06-01"])])
    # Y5 due 2024-06-01, window to 2024-07-01, grace 60 days to 2024-08-30
    r = run(t, c, rules, "2024-08-30")
    assert str(t_row(r, 1)["status"]) == "active"
    r = run(t, c, rules, "2024-08-31")
    assert str(t_row(r, 1)["status"]) == "completed"
    assert set(tp_status(r, 1).values()) == {"completed_on_time"}
    # years later, no contact is expected: still completed, not lost
    r = run(t, c, rules, "2030-01-01")
    assert str(t_row(r, 1)["status"]) == "completed"


def test_lifelong_past_year_15(rules):
    # infusion 2005-03-15; visits at Y16 and Y17 due dates, none for Y18
    t = treatments_df([(1, 1, "car_t_lifelong", "2005-03-15")])
    c = contacts_df([(1, 1, "visit", "2021-03-15"), (2, 1, "visit", "2022-03-20")])
    r = run(t, c, rules, "2023-06-01")
    st = tp_status(r, 1)
    assert (st["Y16"], st["Y17"]) == ("completed_on_time", "completed_on_time")
    assert st["Y18"] == "overdue"  # window 2023-02-13..2023-04-14, grace to 2023-06-13
    assert st["Y19"] == "not_yet_due"
    assert "Y20" not in st
    assert str(t_row(r, 1)["status"]) == "active"


def test_label_wins_when_consistent(rules):
    # plan "tight", infusion 2021-01-01: M1 due 02-01 window 01-27..02-06, grace 40 -> 03-18;
    # M2 due 03-01 window 02-24..03-06.
    t = treatments_df([(1, 1, "tight", "2021-01-01"), (2, 2, "tight", "2021-01-01"), (3, 3, "tight", "2021-01-01")])
    c = contacts_df([
        (1, 1, "visit", "2021-03-01", "M1"),  # label consistent (within M1 grace): M1 late
        (2, 2, "visit", "2021-03-01"),  # no label: in M2's window
        (3, 3, "visit", "2021-02-01", "M2"),  # label inconsistent (before M2 window): by window -> M1
    ])
    r = run(t, c, rules, "2021-03-10")
    assert tp_status(r, 1) == {"M1": "completed_late", "M2": "overdue"}
    assert tp_status(r, 2) == {"M1": "overdue", "M2": "completed_on_time"}
    assert tp_status(r, 3) == {"M1": "completed_on_time", "M2": "overdue"}


def test_one_visit_per_timepoint_and_unscheduled_visits(rules):
    t = treatments_df([(1, 1, "car_t_lifelong", INF)])
    c = contacts_df([
        (1, 1, "visit", "2020-02-12"),  # in D28 window
        (2, 1, "visit", "2020-02-03"),  # also in D28 window, earlier: wins
        (3, 1, "visit", "2020-02-20"),  # D28 grace: late candidate, loses to in-window
        (4, 1, "visit", "2020-05-20"),  # after M3's grace (8 May), before M6 window: unscheduled
        (5, 1, "unreachable", "2020-07-10"),  # an attempt, not a visit
        (6, 1, "visit", "2020-07-11", "Y7"),  # label of a far timepoint: inconsistent, by window -> M6
    ])
    r = run(t, c, rules, "2020-09-01")
    assert tp_row(r, 1, "D28")["contact_id"] == 2
    assert tp_status(r, 1)["M3"] == "missed"
    m6 = tp_row(r, 1, "M6")
    assert (m6["status"], m6["contact_id"]) == ("completed_on_time", 6)
    assert r.timepoints["contact_id"].dropna().tolist() == [2, 6]


def test_contacts_after_as_of_are_ignored(rules):
    t = treatments_df([(1, 1, "car_t_lifelong", INF)])
    c = contacts_df([(1, 1, "death", "2020-03-01")])
    r = run(t, c, rules, "2020-02-20")
    assert str(t_row(r, 1)["status"]) == "active"


def test_patient_status_precedence_with_several_treatments(rules):
    # patient 1: treatment 1 lost by missed visits (car_t_missed_only), treatment 2 active
    t = treatments_df([
        (1, 1, "car_t_missed_only", "2015-01-10"),
        (2, 1, "stem_cell_5y", "2022-06-01"),
    ])
    c = contacts_df([(1, 2, "visit", "2022-07-01")])
    r = run(t, c, rules, "2023-01-01")
    assert str(t_row(r, 1)["status"]) == "lost_to_follow_up"
    assert str(t_row(r, 2)["status"]) == "active"
    assert p_status(r, 1) == "lost_to_follow_up"  # lost beats active: flags the patient


def test_a_patient_with_no_shown_treatment_is_left_out_not_an_error(rules):
    """An MAH (or a product filter) is shown some treatments only: a patient treated only with
    another holder's product has none shown. Their status used to index past the status table
    (a 500 on the compliance export of the demo for as_of dates before a shown infusion)."""
    t = treatments_df([
        (1, 1, "car_t_missed_only", "2015-01-10"),
        (2, 1, "stem_cell_5y", "2022-06-01"),
        (3, 2, "stem_cell_5y", "2022-06-01"),
    ])
    c = contacts_df([(1, 2, "visit", "2022-07-01")])
    r = evaluate_compliance(t, c, rules, D("2023-01-01"), shown={2})
    assert list(r.treatments["treatment_id"]) == [2]
    assert list(r.patients["patient_id"]) == [1] and p_status(r, 1) == "active"
    assert evaluate_compliance(t, c, rules, D("2023-01-01"), shown=set()).patients.empty


def test_treatment_scoped_withdrawal(rules, tmp_path):
    import shutil

    from tests.conftest import RULES_FIXTURE as FIXTURE
    from pv_service.rules import load_rules

    for f in FIXTURE.iterdir():
        shutil.copy(f, tmp_path / f.name)
    p = tmp_path / "followup_plans.yaml"
    p.write_text(p.read_text().replace("  withdrawal: patient", "  withdrawal: treatment"))
    rules2 = load_rules(tmp_path)
    t = treatments_df([(1, 1, "car_t_lifelong", INF), (2, 1, "car_t_lifelong", "2020-02-01")])
    c = contacts_df([(1, 1, "withdrawal", "2020-01-20"), (2, 2, "visit", "2020-02-29")])
    r = run(t, c, rules2, "2020-03-10")
    assert str(t_row(r, 1)["status"]) == "withdrawn"
    assert str(t_row(r, 2)["status"]) == "active"
    assert p_status(r, 1) == "active"  # active beats a treatment-scoped stop
    r = run(t, c, rules, "2020-03-10")  # the fixture's default: withdrawal stops the patient
    assert str(t_row(r, 2)["status"]) == "withdrawn"


def test_bad_input(rules):
    t = treatments_df([(1, 1, "car_t_lifelong", INF)])
    with pytest.raises(ValueError, match="unknown contact kind"):
        run(t, contacts_df([(1, 1, "phone", "2020-02-01")]), rules, "2020-03-01")
    with pytest.raises(ValueError, match="missing column"):
        run(t, pd.DataFrame({"treatment_id": [1]}), rules, "2020-03-01")
    no_date = contacts_df([(1, 1, "visit", "2020-02-01")])
    no_date["contact_date"] = None
    with pytest.raises(ValueError, match="contact_date must not be missing"):
        run(t, no_date, rules, "2020-03-01")
    with pytest.raises(ValueError, match="unique"):
        run(pd.concat([t, t]), contacts_df([]), rules, "2020-03-01")


def test_no_contacts_at_all(rules):
    t = treatments_df([(1, 1, "car_t_lifelong", INF)])
    r = run(t, contacts_df([]), rules, "2022-01-10")  # 24 months after infusion, no contact
    assert str(t_row(r, 1)["status"]) == "lost_to_follow_up"
    r = run(t, contacts_df([]), rules, "2022-01-09")
    assert str(t_row(r, 1)["status"]) == "active"


@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA])
def test_treatment_without_a_plan_has_no_timepoints_and_its_death_still_stops_the_others(rules, missing):
    # Treatment 2's product has no usable plan (plan missing: None, or NaN/NA read from a frame).
    t = treatments_df([
        (1, 1, "car_t_lifelong", "2020-01-10"),
        (2, 1, None, "2015-01-10"),
        (3, 2, None, "2010-01-10"),  # never a visit: no rule says it is lost
    ])
    t["plan"] = pd.Series(["car_t_lifelong", missing, missing], dtype=object)
    c = contacts_df([(1, 1, "visit", "2020-02-07"), (2, 2, "death", "2020-06-30")])
    r = run(t, c, rules, "2021-01-01")
    assert set(r.timepoints["treatment_id"]) == {1}
    assert tp_status(r, 1) == {"D28": "completed_on_time", "M3": "missed"}
    assert str(t_row(r, 1)["status"]) == "deceased" and p_status(r, 1) == "deceased"
    assert str(t_row(r, 3)["status"]) == "active" and pd.isna(t_row(r, 3)["plan"])
    # A name that is not a plan is still an error (the caller resolves names against the rules).
    t.loc[2, "plan"] = "nan"
    with pytest.raises(ValueError, match="unknown follow-up plan"):
        run(t, c, rules, "2021-01-01")
