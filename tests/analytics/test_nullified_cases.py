"""A nullified case (C.1.11.1, here sent as JSON) leaves the cohort statistics: its events and the follow-up
information it carried. The export's hand-worked cohort (tests/analytics/test_api_incidence.py)."""
from __future__ import annotations

import pytest

from tests.exports.conftest import reaction, report

T_CELL = "T-cell malignancies"


def test_nullifying_c3_removes_its_event_and_the_contact_it_was(client, world, cohort):
    cart = cohort["products"]["cart"]
    report(client, world.clinic, cohort["patients"][2], cohort["treatments"][2], "C3",
           "2026-05-05", [{**reaction("T-cell lymphoma", "2026-04-20", "not_recovered", "96000025",
                                      hospitalisation=True, other_medically_important=True), "meddra_version": "90.0"}],
           version=1, nullification="nullification", nullification_reason="reported in error")
    r = client.get(f"/v1/analytics/products/{cart.id}/incidence", params={"event_group": T_CELL},
                   headers=world.safety.headers)
    g = r.json()["groups"][0]
    # P2 (lost) now ends at its last visit, 2023-12-10: 183 days instead of 1045; no event.
    assert (g["patients"], g["events"]) == (6, 0)
    assert g["person_years"] == pytest.approx((2311 - 1045 + 183) / 365.25, abs=1e-6)
