"""An MAH sees only its own products' treatments in follow-up compliance, even for a patient
treated with products of two MAHs (issue 11)."""
from __future__ import annotations

from tests.api.conftest import register, treat


def test_mah_sees_only_its_own_products_of_a_co_treated_patient(client, world, products):
    # As of 2026-11-23. CART-1 (MAH A) infused 2026-10-20: D28 window open, no visit.
    # MSC-1 (MAH B) infused 2026-06-01: a visit on 2026-07-01 (M1), another on 2026-09-01 (M3).
    h = world.clinic.headers
    p = register(client, world.clinic, "CO-1")
    treat(client, world.clinic, p["id"], "CART-1", "2026-10-20")
    msc = treat(client, world.clinic, p["id"], "MSC-1", "2026-06-01")
    for day in ("2026-07-01", "2026-09-01"):
        r = client.post("/v1/followup-contacts", json={"treatment_id": msc["id"], "contact_date": day}, headers=h)
        assert r.status_code == 201, r.text
    everything = client.get("/v1/compliance/patients", headers=world.safety.headers).json()["items"]
    assert everything[0]["products"] == ["CART-1", "MSC-1"] and everything[0]["last_visit_date"] == "2026-09-01"

    a = client.get("/v1/compliance/patients", headers=world.mah.headers).json()["items"]
    assert len(a) == 1 and a[0]["patient_id"] == p["id"]
    assert a[0]["products"] == ["CART-1"]
    assert a[0]["last_visit_date"] is None  # the visits were for MAH B's product
    assert a[0]["next_timepoint"] == "D28" and a[0]["next_due_date"] == "2026-11-17"
    assert a[0]["timepoints"] == {"window_open": 1, "not_yet_due": a[0]["timepoints"]["not_yet_due"]}
    assert sum(a[0]["timepoints"].values()) < sum(everything[0]["timepoints"].values())

    b = client.get("/v1/compliance/patients", headers=world.other_mah.headers).json()["items"]
    assert len(b) == 1 and b[0]["products"] == ["MSC-1"] and b[0]["last_visit_date"] == "2026-09-01"
    assert "window_open" not in b[0]["timepoints"] or b[0]["next_timepoint"] != "D28"
    # filtering by another MAH's product code finds nothing (and so tells nothing)
    assert client.get("/v1/compliance/patients", params={"product": "MSC-1"}, headers=world.mah.headers).json()["items"] == []


def test_a_death_recorded_under_another_mahs_product_still_ends_the_follow_up(client, world, products):
    h = world.clinic.headers
    p = register(client, world.clinic, "CO-2")
    treat(client, world.clinic, p["id"], "CART-1", "2026-10-20")
    msc = treat(client, world.clinic, p["id"], "MSC-1", "2026-06-01")
    r = client.post("/v1/followup-contacts", json={"treatment_id": msc["id"], "kind": "death",
                                                   "contact_date": "2026-11-01"}, headers=h)
    assert r.status_code == 201, r.text
    a = client.get("/v1/compliance/patients", headers=world.mah.headers).json()["items"]
    assert a[0]["status"] == "deceased" and a[0]["products"] == ["CART-1"]


def test_another_mahs_lapsed_follow_up_does_not_colour_this_products_figures(client, world, products):
    """A patient lost to follow-up on MSC-1 (MAH B, infused 2020, never seen) and active on
    CART-1 (MAH A, infused 2026-10-20) counts as active in CART-1's figures."""
    p = register(client, world.clinic, "CO-3")
    treat(client, world.clinic, p["id"], "CART-1", "2026-10-20")
    treat(client, world.clinic, p["id"], "MSC-1", "2020-01-01")
    summary = client.get(f"/v1/compliance/products/{products['cart'].id}", headers=world.mah.headers).json()
    assert summary["patients"]["active"] == 1 and summary["patients"]["lost_to_follow_up"] == 0
    doc = client.get("/v1/exports/compliance", params={"product": "CART-1", "format": "json"},
                     headers=world.mah.headers).json()
    followup = doc["products"][0]["key_figures"]["followup"]
    assert followup["patients_active"] == 1 and followup["patients_lost_to_follow_up"] == 0
    a = client.get("/v1/compliance/patients", headers=world.mah.headers).json()["items"]
    assert a[0]["status"] == "active"


def test_mah_cannot_find_its_patients_by_another_mahs_product(client, world, products):
    p = register(client, world.clinic, "CO-4")
    treat(client, world.clinic, p["id"], "CART-1", "2026-10-20")
    treat(client, world.clinic, p["id"], "MSC-1", "2026-06-01")
    get = lambda actor, code: client.get("/v1/patients", params={"product": code}, headers=actor.headers).json()["items"]  # noqa: E731
    assert [x["id"] for x in get(world.mah, "CART-1")] == [p["id"]]
    assert get(world.mah, "MSC-1") == [] and get(world.mah, "NO-SUCH") == []
    assert [x["id"] for x in get(world.safety, "MSC-1")] == [p["id"]]
