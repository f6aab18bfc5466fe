"""Compliance read APIs and the MAH's milestone updates."""
from __future__ import annotations

import datetime as dt

from pv_service.products.models import ConfirmatoryObligation
from tests.api.conftest import register, treat
from tests.conftest import NOW


def test_patient_and_product_compliance(client, world, products):
    # As of 2026-11-23. Patient A: infused 2026-10-20, D28 due 11-17, window 11-10..11-24 open, no visit.
    # Patient B: infused 2026-07-01, died 2026-08-15 (D28 done on 07-29).  Patient C: other clinic, MSC-1.
    a = register(client, world.clinic, "A")
    b = register(client, world.clinic, "B")
    c = register(client, world.other_clinic, "C")
    treat(client, world.clinic, a["id"], "CART-1", "2026-10-20")
    tb = treat(client, world.clinic, b["id"], "CART-1", "2026-07-01")
    treat(client, world.other_clinic, c["id"], "MSC-1", "2026-06-01")
    h = world.clinic.headers
    client.post("/v1/followup-contacts", json={"treatment_id": tb["id"], "contact_date": "2026-07-29"}, headers=h)
    client.post("/v1/followup-contacts", json={"treatment_id": tb["id"], "kind": "death", "contact_date": "2026-08-15"}, headers=h)

    mine = client.get("/v1/compliance/patients", headers=h).json()["items"]
    assert {(x["patient_id"], x["status"]) for x in mine} == {(a["id"], "active"), (b["id"], "deceased")}
    pa = next(x for x in mine if x["patient_id"] == a["id"])
    assert pa["timepoints"]["window_open"] == 1 and set(pa["timepoints"]) <= {"window_open", "not_yet_due"}
    assert pa["next_timepoint"] == "D28" and pa["next_due_date"] == "2026-11-17"
    assert client.get("/v1/compliance/patients", params={"status": "deceased"}, headers=h).json()["items"][0]["patient_id"] == b["id"]
    # MAH A sees CART-1's patients only; MAH B sees the stem-cell patient.
    assert {x["patient_id"] for x in client.get("/v1/compliance/patients", headers=world.mah.headers).json()["items"]} == {a["id"], b["id"]}
    assert {x["patient_id"] for x in client.get("/v1/compliance/patients", headers=world.other_mah.headers).json()["items"]} == {c["id"]}

    summary = client.get(f"/v1/compliance/products/{products['cart'].id}", headers=world.safety.headers).json()
    assert summary["patients"]["active"] == 1 and summary["patients"]["deceased"] == 1
    assert summary["timepoints"]["completed_on_time"] == 1 and summary["timepoints"]["window_open"] == 1
    d28 = next(t for t in summary["by_timepoint"] if t["label"] == "D28")
    assert d28["counts"] == {"completed_on_time": 1, "window_open": 1}
    assert client.get(f"/v1/compliance/products/{products['cart'].id}", headers=world.other_mah.headers).status_code == 404
    assert client.get(f"/v1/compliance/products/{products['cart'].id}", headers=world.clinic.headers).status_code == 403


def test_mah_updates_its_milestones(client, session, world, products):
    ob = ConfirmatoryObligation(product_id=products["cart"].id, jurisdiction="NMPA", description="RCT",
                                due_date=dt.date(2028, 1, 1), created_at=NOW)
    session.add(ob)
    session.commit()
    url = f"/v1/products/{products['cart'].id}/obligations/{ob.id}/milestones"
    r = client.put(f"{url}/first_patient_in", json={"planned_date": "2025-01-01", "achieved_date": "2025-02-01"},
                   headers=world.mah.headers)
    assert r.status_code == 200 and r.json()["achieved_date"] == "2025-02-01"
    assert client.put(f"{url}/first_patient_in", json={"achieved_date": "2027-01-01"}, headers=world.mah.headers).status_code == 422
    r = client.put(f"{url}/coffee_break", json={}, headers=world.mah.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "kind"]
    assert client.put(f"{url}/first_patient_in", json={}, headers=world.other_mah.headers).status_code == 404
    assert client.put(f"{url}/first_patient_in", json={}, headers=world.clinic.headers).status_code == 403
    product = client.get(f"/v1/products/{products['cart'].id}", headers=world.clinic.headers).json()
    assert product["obligations"][0]["milestones"][0]["kind"] == "first_patient_in"
    audit = client.get("/v1/audit", params={"entity_type": "milestone"}, headers=world.safety.headers).json()["items"]
    assert audit[0]["actor"] == "mah-a"
