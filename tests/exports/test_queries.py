"""followup.cohort.load_contacts, as the export reads it: scope, as-of date, deaths from fatal cases."""
from __future__ import annotations

import pandas as pd

from pv_service.followup.cohort import load_contacts
from tests.conftest import NOW


def _key(frame: pd.DataFrame) -> list[tuple]:
    dates = pd.to_datetime(frame["contact_date"]).dt.date
    ids = [int(c) if c > 0 else -1 for c in frame["contact_id"]]  # synthetic deaths are numbered per call
    return sorted(zip(ids, frame["treatment_id"].astype(int), frame["kind"], dates,
                      frame["timepoint"].where(frame["timepoint"].notna(), None)))


def test_scope_contacts_match_load_contacts(session, cohort):
    cart = cohort["products"]["cart"]
    mine = load_contacts(session, [cart.id], as_of=NOW.date())
    assert _key(mine) == _key(load_contacts(session, [cart.id]))  # nothing is dated after NOW
    assert (mine["contact_id"] < 0).sum() == 1  # C2's fatal outcome, a death on P3's treatment
    screening = dict(zip(mine["contact_date"].dt.date.astype(str), mine["malignancy_screening"]))
    assert screening["2026-03-15"] == "indeterminate" and screening["2026-10-20"] == "negative"
    # MSC-1's patient is out of CART-1's scope; a past as-of date drops later contacts.
    assert set(mine["treatment_id"]) == {t["id"] for i, t in cohort["treatments"].items() if i not in (4, 7)}  # P4: none
    assert load_contacts(session, [cart.id], as_of=pd.Timestamp("2024-01-01").date())["contact_date"].max() \
        == pd.Timestamp("2023-12-10")
