"""Person-time worked out by hand on a tiny cohort (as of 2026-01-01, product 1).

  P1  product 1 infused 2020-01-01, active            -> as-of 2026-01-01: 2192 days (6 y, 2 leap days);
      event 2023-01-01                                 -> event at 1096 days
  P2  product 1 2021-03-01, died 2022-03-01            -> death at 365 days; event the same day counts: event
  P3  product 1 2022-01-01, lost, last visit 2023-01-01 -> lost at 365 days; event 2024-01-01 is after: censored
  P4  product 1 2023-01-01, product 2 on 2024-01-01     -> other product at 365 days; event 2023-06-01: 151 days
  P5  product 1 2025-07-01, withdrawn 2025-09-01        -> 62 days; event 2025-06-01 before infusion: ignored
  P6  product 1 2026-02-01 (after the as-of date)       -> not in the cohort
  P7  product 2 only                                   -> not in the cohort
  P8  product 1 2019-01-01, again 2020-01-01            -> one episode from 2019-01-01: 2557 days, censored
Events 3, days 1096 + 365 + 365 + 151 + 62 + 2557 = 4596, person-years 4596 / 365.25 = 12.58316.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pv_service.analytics.incidence import rate_table
from pv_service.analytics.persontime import attained_age_split, episodes, time_at_risk

AS_OF = dt.date(2026, 1, 1)
T = [  # treatment_id, patient_id, product_id, infusion, status, stop, last visit
    (1, 1, 1, "2020-01-01", "active", None, "2025-06-01"),
    (2, 2, 1, "2021-03-01", "deceased", "2022-03-01", "2021-09-01"),
    (3, 3, 1, "2022-01-01", "lost_to_follow_up", None, "2023-01-01"),
    (4, 4, 1, "2023-01-01", "active", None, "2023-04-01"),
    (5, 4, 2, "2024-01-01", "active", None, "2025-01-01"),
    (6, 5, 1, "2025-07-01", "withdrawn", "2025-09-01", None),
    (7, 6, 1, "2026-02-01", "active", None, None),
    (8, 7, 2, "2020-01-01", "active", None, None),
    (9, 8, 1, "2019-01-01", "active", None, "2025-01-01"),
    (10, 8, 1, "2020-01-01", "active", None, "2025-01-01"),
]
EVENTS = [(1, "2023-01-01"), (2, "2022-03-01"), (3, "2024-01-01"), (4, "2023-06-01"), (5, "2025-06-01"),
          (1, "2024-05-05")]  # P1's second event: only the first counts


def _frames():
    tr = pd.DataFrame([t[:4] for t in T], columns=["treatment_id", "patient_id", "product_id", "infusion_date"])
    tr["infusion_date"] = pd.to_datetime(tr["infusion_date"])
    tr["sex"] = "male"
    tr["birth_year"] = 1960
    fu = pd.DataFrame([(t[0], t[4], t[5], t[6]) for t in T],
                      columns=["treatment_id", "status", "stop_date", "last_visit_date"])
    for c in ("stop_date", "last_visit_date"):
        fu[c] = pd.to_datetime(fu[c])
    ev = pd.DataFrame(EVENTS, columns=["patient_id", "onset"])
    ev["onset"] = pd.to_datetime(ev["onset"])
    return tr, fu, ev


def test_episodes_and_time_at_risk_by_hand():
    tr, fu, ev = _frames()
    ep = episodes(tr, fu, 1, AS_OF)
    got = ep.set_index("patient_id")
    assert sorted(got.index) == [1, 2, 3, 4, 5, 8]
    assert got.loc[8, "treatment_id"] == 9  # the first infusion of the product starts the episode
    assert dict(got["exit_reason"]) == {1: "as_of", 2: "death", 3: "lost", 4: "other_product", 5: "withdrawal",
                                        8: "as_of"}
    tar = time_at_risk(ep, ev).set_index("patient_id")
    assert dict(tar["days"]) == {1: 1096, 2: 365, 3: 365, 4: 151, 5: 62, 8: 2557}
    assert dict(tar["status"]) == {1: 1, 2: 1, 3: 0, 4: 1, 5: 0, 8: 0}
    row = rate_table(tar.reset_index()).iloc[0]
    assert row["events"] == 3 and row["patients"] == 6
    assert row["person_years"] == pytest.approx(4596 / 365.25)
    assert row["rate"] == pytest.approx(300 / (4596 / 365.25))


def test_death_without_the_event_is_competing_and_continue_keeps_other_product_time():
    tr, fu, ev = _frames()
    tar = time_at_risk(episodes(tr, fu, 1, AS_OF), ev[ev["patient_id"] != 2]).set_index("patient_id")
    assert tar.loc[2, "status"] == 2 and tar.loc[2, "days"] == 365
    ep = episodes(tr, fu, 1, AS_OF, other_product_infusion="continue").set_index("patient_id")
    assert ep.loc[4, "exit_reason"] == "as_of"
    ep = episodes(tr, fu, 1, AS_OF, active_until="last_contact").set_index("patient_id")
    assert ep.loc[1, "exit"] == pd.Timestamp("2025-06-01") and ep.loc[1, "exit_reason"] == "last_contact"


def test_attained_age_split_by_hand():
    """Born 1960 (taken as 2 July), at risk 2020-01-01 .. 2026-01-01 (2192 days). The 65th birthday:
    1960-07-02 + 65 x 365.25 days = 2025-07-02 + 0.25 day (65 years hold 16 leap days: 23741 days).
    So 2009.25 days at 40-64 (2020-01-01 .. 2025-07-02 is 2009 days) and 182.75 days at 65+."""
    frame = pd.DataFrame({"start": pd.to_datetime(["2020-01-01"]), "days": [2192], "status": [1],
                          "birth_year": [1960]})
    pieces = attained_age_split(frame, (0, 18, 40, 65))
    assert list(pieces["age_band"]) == ["40-64", "65+"]
    assert list(pieces["days"]) == pytest.approx([2009.25, 182.75])
    assert list(pieces["events"]) == [0, 1]  # the event at the end falls in the band it happened in


def test_split_keeps_every_day_and_every_event():
    rng = np.random.default_rng(7)
    n = 500
    frame = pd.DataFrame({"start": pd.to_datetime("2010-01-01") + pd.to_timedelta(rng.integers(0, 5000, n), "D"),
                          "days": rng.integers(0, 6000, n), "status": rng.integers(0, 3, n),
                          "birth_year": rng.integers(1930, 2015, n)})
    pieces = attained_age_split(frame, (0, 18, 40, 65))
    assert pieces["days"].sum() == pytest.approx(frame["days"].sum())
    assert pieces["events"].sum() == (frame["status"] == 1).sum()
    assert (pieces.groupby("row")["events"].sum() <= 1).all()
