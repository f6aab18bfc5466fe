"""Confirmatory-trial obligations, worked by hand from the fixture rules (horizons 365,
180, 90, 30 days; NMPA in-principle deadline 4 years; fulfilled by
final_report_submitted or converted_to_full_approval)."""
from __future__ import annotations

import pandas as pd
import pytest

from pv_service.products.deadlines import default_due_date, evaluate_obligations
from tests.conftest import D


def milestones(rows):
    return pd.DataFrame([(o, k, D(p), D(a)) for o, k, p, a in rows],
                        columns=["obligation_id", "kind", "planned_date", "achieved_date"])


def obligations(rows):
    return pd.DataFrame([(o, D(d)) for o, d in rows], columns=["obligation_id", "due_date"])


def test_default_deadline_nmpa(rules):
    # PRIMER section 4: amimestrocel, conditionally approved 2 Jan 2025 -> 2 Jan 2029
    assert default_due_date(D("2025-01-02"), "NMPA", rules) == D("2029-01-02")
    assert default_due_date(D("2024-02-29"), "NMPA", rules) == D("2028-02-29")
    assert default_due_date(D("2025-01-02"), "EMA", rules) is None
    assert default_due_date(D("2025-01-02"), "XX", rules) is None


@pytest.mark.parametrize("as_of, remaining, horizons, status", [
    ("2027-12-31", 368, (), "open"),
    ("2028-01-03", 365, (365,), "open"),  # 2028 is a leap year: 3 Jan 2028 -> 3 Jan 2029 = 366 days
    ("2028-07-06", 180, (365, 180), "open"),  # 25 (Jul) + 153 (Aug-Dec) + 2
    ("2028-10-04", 90, (365, 180, 90), "open"),  # 27 + 30 + 31 + 2
    ("2028-12-03", 30, (365, 180, 90, 30), "open"),
    ("2029-01-02", 0, (365, 180, 90, 30), "open"),  # the due day itself is still in time
    ("2029-01-03", -1, (), "overdue"),
])
def test_walk_to_the_deadline(rules, as_of, remaining, horizons, status):
    o = obligations([(1, "2029-01-02")])
    m = milestones([(1, "protocol_agreed", "2025-06-01", "2025-05-20")])
    r = evaluate_obligations(o, m, rules, D(as_of)).obligations.iloc[0]
    assert r["days_remaining"] == remaining
    assert r["horizons_due"] == horizons
    assert (pd.isna(r["horizon_days"]) if not horizons else r["horizon_days"] == horizons[-1])
    assert str(r["status"]) == status
    assert bool(r["overdue"]) == (status == "overdue")


def test_fulfilment(rules):
    o = obligations([(1, "2029-01-02"), (2, "2029-01-02"), (3, "2029-01-02")])
    m = milestones([
        (1, "final_report_submitted", "2028-10-01", "2028-12-01"),
        (2, "final_report_submitted", "2028-10-01", "2029-03-01"),
        (3, "converted_to_full_approval", None, "2027-06-01"),
    ])
    res = evaluate_obligations(o, m, rules, D("2029-06-01")).obligations.set_index("obligation_id")
    assert str(res.loc[1, "status"]) == "fulfilled" and res.loc[1, "fulfilled_date"] == pd.Timestamp("2028-12-01")
    assert str(res.loc[2, "status"]) == "fulfilled_late" and not res.loc[2, "overdue"]
    assert str(res.loc[3, "status"]) == "fulfilled"
    # a fulfilled obligation raises no horizon alerts
    res = evaluate_obligations(o, m, rules, D("2028-12-03")).obligations.set_index("obligation_id")
    assert res.loc[1, "horizons_due"] == ()
    assert res.loc[2, "horizons_due"] == (365, 180, 90, 30)


def test_milestone_status(rules):
    o = obligations([(1, "2029-01-02")])
    m = milestones([
        (1, "protocol_agreed", "2025-03-01", "2025-02-15"),
        (1, "first_patient_in", "2025-06-01", "2025-07-01"),
        (1, "enrolment_complete", "2026-06-01", None),
        (1, "last_patient_last_visit", "2028-01-01", None),
        (1, "final_report_submitted", None, None),
    ])
    res = evaluate_obligations(o, m, rules, D("2026-07-01"))
    ms = res.milestones.set_index("kind")
    assert [str(ms.loc[k, "status"]) for k in ms.index] == [
        "achieved_on_time", "achieved_late", "overdue", "planned", "not_planned"]
    assert ms.loc["enrolment_complete", "days_remaining"] == -30
    assert ms.loc["last_patient_last_visit", "days_remaining"] == 549  # 1 Jul 2026 -> 1 Jan 2028: 184 + 365
    ob = res.obligations.iloc[0]
    assert str(ob["next_milestone"]) == "enrolment_complete"
    assert ob["n_milestones_overdue"] == 1


def test_bad_input(rules):
    o = obligations([(1, "2029-01-02")])
    with pytest.raises(ValueError, match="unknown milestone kind"):
        evaluate_obligations(o, milestones([(1, "party", None, None)]), rules, D("2026-01-01"))
    with pytest.raises(ValueError, match="not in obligations"):
        evaluate_obligations(o, milestones([(2, "protocol_agreed", None, None)]), rules, D("2026-01-01"))
    empty = evaluate_obligations(o, milestones([]), rules, D("2026-01-01"))
    assert str(empty.obligations.iloc[0]["next_milestone"]) == "protocol_agreed"
