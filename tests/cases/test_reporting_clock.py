"""Expedited reporting clocks, worked by hand from the fixture rules
(tests/rules/fixture_alerts/reporting_clocks.yaml = the shipped alerts/ version):
NMPA death "immediately" = day 0 + 1 (end of the next calendar day), serious 15, new
(unexpected) 15, other 30; FDA serious and unexpected 15, others periodic; EMA serious 15,
non-serious 90; ICH E2A (study reports) fatal or life-threatening unexpected 7, other serious
unexpected 15. Warning leads 5, 2, 1, 0 days."""
from __future__ import annotations

import pandas as pd
import pytest

from pv_service.cases.reporting_clock import evaluate_reporting_clocks
from tests.conftest import D


def cases(rows):
    """rows: (case_id, jurisdiction, first_received, serious, death, life_threatening, unexpected, submitted)"""
    return pd.DataFrame(
        [(c, j, D(f), s, d, lt, u, D(sub)) for c, j, f, s, d, lt, u, sub in rows],
        columns=["case_id", "jurisdiction", "first_received", "serious", "death", "life_threatening",
                 "unexpected", "submitted_date"],
    )


def one(df, case_id, jurisdiction=None):
    rows = df[df["case_id"] == case_id]
    if jurisdiction:
        rows = rows[rows["jurisdiction"] == jurisdiction]
    assert len(rows) == 1
    return rows.iloc[0]


def test_death_in_china_must_be_reported_at_once(rules):
    c = cases([(1, "NMPA", "2025-03-01", True, True, False, None, None)])
    r = one(evaluate_reporting_clocks(c, rules, D("2025-03-01")), 1)
    assert r["due_date"] == pd.Timestamp("2025-03-02")  # end of the next calendar day
    assert r["clock_days"] == 1  # the shortest applicable clock wins over serious (15) and any (30)
    assert str(r["status"]) == "pending"
    assert r["days_remaining"] == 1
    assert r["warning_lead_days"] == 1
    assert r["warnings_due"] == (5, 2, 1)
    r = one(evaluate_reporting_clocks(c, rules, D("2025-03-02")), 1)
    assert (str(r["status"]), r["days_remaining"], r["warning_lead_days"]) == ("pending", 0, 0)
    r = one(evaluate_reporting_clocks(c, rules, D("2025-03-03")), 1)
    assert (str(r["status"]), r["days_remaining"]) == ("pending_overdue", -1)
    assert pd.isna(r["warning_lead_days"])
    on_time = cases([(1, "NMPA", "2025-03-01", True, True, False, None, "2025-03-02")])
    assert str(one(evaluate_reporting_clocks(on_time, rules, D("2025-04-01")), 1)["status"]) == "on_time"
    late = cases([(1, "NMPA", "2025-03-01", True, True, False, None, "2025-03-03")])
    r = one(evaluate_reporting_clocks(late, rules, D("2025-04-01")), 1)
    assert str(r["status"]) == "late"
    assert pd.isna(r["days_remaining"])
    # seen from before the submission date, it is not submitted yet
    assert str(one(evaluate_reporting_clocks(late, rules, D("2025-03-02")), 1)["status"]) == "pending"


def test_china_serious_and_other(rules):
    c = cases([
        (1, "NMPA", "2025-01-20", True, False, False, None, None),  # 20 Jan + 15 = 4 Feb
        (2, "NMPA", "2025-01-20", False, False, False, False, None),  # listed: 20 Jan + 30 = 19 Feb
    ])
    df = evaluate_reporting_clocks(c, rules, D("2025-01-31"))
    r1, r2 = one(df, 1), one(df, 2)
    assert (r1["due_date"], r1["days_remaining"], r1["warning_lead_days"]) == (pd.Timestamp("2025-02-04"), 4, 5)
    assert (r2["due_date"], r2["days_remaining"]) == (pd.Timestamp("2025-02-19"), 19)
    assert pd.isna(r2["warning_lead_days"])
    assert "15 days" in r1["clock_basis"]


def test_other_jurisdictions(rules):
    c = cases([
        (1, "FDA", "2025-06-01", True, False, False, None, None),  # unexpected unknown: clock applies
        (2, "FDA", "2025-06-01", True, False, False, False, None),  # expected: no 15-day report
        (3, "EMA", "2025-06-01", False, False, True, None, None),  # life-threatening is serious
        (4, "ICH_E2A", "2025-06-01", True, False, True, True, None),  # 7 days
        (5, "ICH_E2A", "2025-06-01", True, False, False, True, None),  # 15 days
        (6, "MARS", "2025-06-01", True, True, False, None, None),
    ])
    df = evaluate_reporting_clocks(c, rules, D("2025-06-02")).set_index("case_id")
    assert df.loc[1, "due_date"] == pd.Timestamp("2025-06-16")
    assert str(df.loc[2, "status"]) == "not_required" and pd.isna(df.loc[2, "due_date"])
    assert df.loc[3, "due_date"] == pd.Timestamp("2025-06-16")
    assert df.loc[4, "due_date"] == pd.Timestamp("2025-06-08")
    assert df.loc[5, "due_date"] == pd.Timestamp("2025-06-16")
    assert str(df.loc[6, "status"]) == "unknown_jurisdiction"


def test_one_case_several_regulators(rules):
    c = cases([
        (9, "NMPA", "2025-12-30", True, True, False, None, None),
        (9, "EMA", "2025-12-30", True, True, False, None, "2026-01-05"),
    ])
    df = evaluate_reporting_clocks(c, rules, D("2026-01-02"))
    assert one(df, 9, "NMPA")["due_date"] == pd.Timestamp("2025-12-31")
    assert str(one(df, 9, "NMPA")["status"]) == "pending_overdue"
    assert one(df, 9, "EMA")["due_date"] == pd.Timestamp("2026-01-14")  # across the year end
    assert str(one(df, 9, "EMA")["status"]) == "pending"  # submitted on 5 Jan: not known on 2 Jan
    df = evaluate_reporting_clocks(c, rules, D("2026-01-06"))
    assert str(one(df, 9, "EMA")["status"]) == "on_time"


def test_minimal_columns_and_empty(rules):
    c = pd.DataFrame({"case_id": [1], "jurisdiction": ["NMPA"], "first_received": [D("2025-01-01")],
                      "serious": [False], "death": [False]})
    r = one(evaluate_reporting_clocks(c, rules, D("2025-01-01")), 1)
    # No expectedness given: unexpected, so a "new" ADR in China: 15 days, not 30
    assert r["due_date"] == pd.Timestamp("2025-01-16")
    assert len(evaluate_reporting_clocks(c.iloc[:0], rules, D("2025-01-01"))) == 0
    with pytest.raises(ValueError, match="missing column"):
        evaluate_reporting_clocks(c.drop(columns="death"), rules, D("2025-01-01"))


# ---- by seriousness and expectedness (issue 16), day 0 = 10 March 2025, as of the same day.
# Hand-worked: +1 = 11 Mar; +15 = 25 Mar; +30 = 9 Apr (21 days to 31 Mar, 9 more); +90 = 8 Jun
# (21 to 31 Mar, 30 in Apr, 31 in May = 82, 8 more); +7 = 17 Mar.

def _expectedness_cases():
    rows = []
    for i, (serious, death, unexpected) in enumerate([
        (True, False, False),   # 1: serious, listed
        (True, False, True),    # 2: serious, unlisted
        (False, False, True),   # 3: non-serious, unlisted
        (False, False, False),  # 4: non-serious, listed
        (True, True, False),    # 5: fatal, listed
    ], start=1):
        for j in ("FDA", "NMPA", "EMA"):
            rows.append((i, j, "2025-03-10", serious, death, False, unexpected, None))
    return cases(rows)


@pytest.mark.parametrize("case_id, jurisdiction, due, basis_has", [
    (1, "FDA", None, "periodic"),  # a labelled serious event is not a 15-day alert report
    (1, "NMPA", "2025-03-25", "serious"),
    (1, "EMA", "2025-03-25", "serious"),
    (2, "FDA", "2025-03-25", "600.80(c)(1)(i)"),
    (2, "NMPA", "2025-03-25", "serious"),
    (2, "EMA", "2025-03-25", "serious"),
    (3, "FDA", None, "periodic"),
    (3, "NMPA", "2025-03-25", "new"),  # a new (unlisted) ADR: 15 days even when not serious
    (3, "EMA", "2025-06-08", "non-serious"),
    (4, "FDA", None, "periodic"),
    (4, "NMPA", "2025-04-09", "other ADRs"),
    (4, "EMA", "2025-06-08", "non-serious"),
    (5, "FDA", None, "periodic"),  # fatal but labelled: still not a 15-day report
    (5, "NMPA", "2025-03-11", "death"),
    (5, "EMA", "2025-03-25", "serious"),
])
def test_clocks_by_seriousness_and_expectedness(case_id, jurisdiction, due, basis_has):
    from pv_service.rules import load_rules

    df = evaluate_reporting_clocks(_expectedness_cases(), load_rules("alerts"), D("2025-03-10"))
    r = one(df, case_id, jurisdiction)
    if due is None:
        assert str(r["status"]) == "not_required" and pd.isna(r["due_date"])
    else:
        assert r["due_date"] == pd.Timestamp(due) and str(r["status"]) == "pending"
    assert basis_has in r["clock_basis"]


def test_study_reports_follow_ich_e2a_whatever_the_regulator():
    from pv_service.rules import load_rules

    c = cases([
        (1, "FDA", "2025-03-10", True, True, False, True, None),    # fatal, unexpected: 7 days
        (2, "NMPA", "2025-03-10", True, False, False, True, None),  # serious, unexpected: 15 days
        (3, "EMA", "2025-03-10", True, False, False, False, None),  # serious, expected: no expedited report
        (4, "FDA", "2025-03-10", True, True, False, True, None),    # the same as 1, spontaneous: 15 days
    ]).assign(study=[True, True, True, False])
    df = evaluate_reporting_clocks(c, load_rules("alerts"), D("2025-03-10"))
    assert one(df, 1)["due_date"] == pd.Timestamp("2025-03-17") and "E2A" in one(df, 1)["clock_basis"]
    assert one(df, 2)["due_date"] == pd.Timestamp("2025-03-25") and "E2A" in one(df, 2)["clock_basis"]
    assert str(one(df, 3)["status"]) == "not_required"
    assert one(df, 4)["due_date"] == pd.Timestamp("2025-03-25") and "600.80" in one(df, 4)["clock_basis"]
