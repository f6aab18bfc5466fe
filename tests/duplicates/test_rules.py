"""Pure rules: identifier candidates, the guards' thresholds, the linkage features (no database)."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from pv_service.duplicates import guards, linkage
from pv_service.duplicates.rules import Identifiers, identifier_candidates
from tests.duplicates.conftest import RULES


def _ids(case_id, sender_case_id, worldwide=None, report=None, other=(), digest=None):
    return Identifiers(case_id, sender_case_id, worldwide, report, tuple(other), digest or f"h{case_id}")


def test_worldwide_id_other_identifier_and_content_hash():
    known = [_ids(1, "A-1", worldwide="US-MAH-2026-0001"), _ids(2, "B-7", report="CN-X-9"),
             _ids(3, "C-3", digest="same"), _ids(4, "D-4", other=["FR-ANSM-55"])]
    new = [_ids(10, "Z-1", worldwide=" us-mah-2026-0001 "),  # case and spaces do not matter
           _ids(11, "Z-2", other=["CN-X-9"]),  # names case 2 in C.1.9.1.r.2
           _ids(12, "Z-3", digest="same"), _ids(13, "Z-4", digest="same"),  # identical content: both to case 3
           _ids(14, "FR-ANSM-55"),  # named by case 4
           _ids(15, "Z-6")]
    got = {(c.case_a, c.case_b): c.method for c in identifier_candidates(new, known)}
    assert got == {(1, 10): "worldwide_id", (2, 11): "other_identifier", (3, 12): "content_hash",
                   (3, 13): "content_hash", (4, 14): "other_identifier"}


def test_guards_fire_above_their_thresholds_only():
    g = RULES.duplicates.guards
    assert not guards.identical_burst(g.identical_reports.max_reports, g)
    assert guards.identical_burst(g.identical_reports.max_reports + 1, g)
    assert not guards.patient_burst(g.patient_reports.max_reports, g)
    assert guards.patient_burst(g.patient_reports.max_reports + 1, g)


def _record(case_id, **kw):
    base = {"case_id": case_id, "sex": "F", "birth_year": 1970, "age_group": None,
            "onset_date": dt.date(2026, 5, 3), "received_date": dt.date(2026, 6, 1), "country": "CN",
            "pts": ["100", "200"], "products": ["CART-1"], "batch": "LOT-9", "qualification": "physician",
            "clinic": 1}
    return base | kw


def test_the_model_scores_a_noisy_duplicate_high_and_another_patient_low():
    """Hand-built pairs against the trained model in alerts/duplicates.yaml."""
    frame = pd.DataFrame([
        _record(1),
        # The same case from another sender: age as a group, onset day and month swapped, a term missing,
        # a pharmacist, received three weeks later.
        _record(2, birth_year=None, age_group="adult", onset_date=dt.date(2026, 3, 5), pts=["100"],
                qualification="pharmacist", received_date=dt.date(2026, 6, 22), clinic=None),
        # Another woman of the same clinic, product and onset: another year of birth and lot.
        _record(3, birth_year=1951, batch="LOT-2"),
    ])
    frame["onset_date"] = pd.to_datetime(frame["onset_date"])
    frame["received_date"] = pd.to_datetime(frame["received_date"])
    scored = linkage.score_within(RULES.duplicates.model, linkage.prepare(frame), 1e-9)
    p = {(int(r.unique_id_l), int(r.unique_id_r)): float(r.match_probability) for r in scored.itertuples()}
    assert p[(1, 2)] >= RULES.duplicates.review_threshold
    assert p.get((1, 3), 0.0) < 0.5  # well under the review threshold: never queued
    # The swapped day and month count as one typo, not as a different date.
    fields = {int(r.unique_id_r): linkage.agreement(r) for r in scored.itertuples() if r.unique_id_l == 1}
    assert fields[2]["onset"] > 0 and fields[2]["qualification"] < 0
