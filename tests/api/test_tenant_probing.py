"""Ids of another tenant referenced in a write get the same answer as ids that do not exist.

Otherwise a clinic could probe which treatment ids exist at other clinics (issue 11).
"""
from __future__ import annotations

from tests.api.conftest import register, report_payload, treat


def _answer(r):
    return r.status_code, r.json()


def test_a_treatment_of_another_clinic_is_answered_as_not_found_on_intake(client, world, products):
    mine = register(client, world.other_clinic, "B-1")
    my_treatment = treat(client, world.other_clinic, mine["id"])
    theirs = treat(client, world.clinic, register(client, world.clinic, "A-1")["id"])
    foreign = report_payload(mine["id"], theirs["id"], reporter={"qualification": "physician", "country": "US"})
    missing = report_payload(mine["id"], 99999, reporter={"qualification": "physician", "country": "US"})
    r_foreign = client.post("/v1/reports", json=foreign, headers=world.other_clinic.headers)
    r_missing = client.post("/v1/reports", json=missing, headers=world.other_clinic.headers)
    assert r_foreign.status_code == 422
    assert _answer(r_foreign) == _answer(r_missing)
    # batch: the same answer for both, item by item
    batch = client.post("/v1/reports/batch", json={"reports": [foreign, missing]}, headers=world.other_clinic.headers)
    a, b = batch.json()["results"]
    assert a["status"] == b["status"] == 422
    assert a["errors"][0]["msg"] == b["errors"][0]["msg"]
    # read: 404 for both
    assert client.get(f"/v1/treatments/{theirs['id']}", headers=world.other_clinic.headers).status_code == 404
    assert client.get("/v1/treatments/99999", headers=world.other_clinic.headers).status_code == 404
    # one's own other patient's treatment is still named as such (no tenant boundary there)
    other = register(client, world.other_clinic, "B-2")
    wrong = report_payload(other["id"], my_treatment["id"], reporter={"qualification": "physician", "country": "US"})
    r = client.post("/v1/reports", json=wrong, headers=world.other_clinic.headers)
    assert r.status_code == 422 and "another patient" in r.json()["detail"][0]["msg"]


def test_a_treatment_of_another_clinic_is_answered_as_not_found_for_a_followup_contact(client, world, products):
    theirs = treat(client, world.clinic, register(client, world.clinic, "A-1")["id"])
    body = {"treatment_id": theirs["id"], "contact_date": "2025-02-07"}
    r_foreign = client.post("/v1/followup-contacts", json=body, headers=world.other_clinic.headers)
    r_missing = client.post("/v1/followup-contacts", json={**body, "treatment_id": 99999}, headers=world.other_clinic.headers)
    assert r_foreign.status_code == 422 and _answer(r_foreign) == _answer(r_missing)


def test_a_patient_of_another_clinic_is_answered_as_not_found(client, world, products):
    theirs = register(client, world.clinic, "A-1")
    body = {"patient_id": theirs["id"], "product_code": "CART-1", "batch_number": "L", "infusion_date": "2025-01-10"}
    r_foreign = client.post("/v1/treatments", json=body, headers=world.other_clinic.headers)
    r_missing = client.post("/v1/treatments", json={**body, "patient_id": 99999}, headers=world.other_clinic.headers)
    assert r_foreign.status_code == 422 and _answer(r_foreign) == _answer(r_missing)
    mine = register(client, world.other_clinic, "B-1")
    t = treat(client, world.other_clinic, mine["id"])
    rep = report_payload(theirs["id"], t["id"], reporter={"qualification": "physician", "country": "US"})
    r_foreign = client.post("/v1/reports", json=rep, headers=world.other_clinic.headers)
    r_missing = client.post("/v1/reports", json={**rep, "patient": {"patient_id": 99999}}, headers=world.other_clinic.headers)
    assert r_foreign.status_code == 422 and _answer(r_foreign) == _answer(r_missing)


def test_other_tenants_ids_in_the_remaining_writes_read_as_missing(client, session, world, treated, products):
    import datetime as dt

    from pv_service.products.models import ConfirmatoryObligation
    from tests.conftest import NOW

    p, t = treated
    case = client.post("/v1/reports", json=report_payload(p["id"], t["id"]), headers=world.clinic.headers).json()
    # a regulatory submission on a case the MAH cannot read (MSC-1's MAH, the case names CART-1)
    sub = {"jurisdiction": "NMPA", "submitted_date": "2025-02-05"}
    r_foreign = client.post(f"/v1/reports/{case['id']}/submissions", json=sub, headers=world.other_mah.headers)
    r_missing = client.post("/v1/reports/99999/submissions", json=sub, headers=world.other_mah.headers)
    assert r_foreign.status_code == 404 and _answer(r_foreign) == _answer(r_missing)
    # a milestone of another MAH's product
    ob = ConfirmatoryObligation(product_id=products["cart"].id, jurisdiction="NMPA", description="RCT",
                                due_date=dt.date(2028, 1, 1), created_at=NOW)
    session.add(ob)
    session.commit()
    r_foreign = client.put(f"/v1/products/{products['cart'].id}/obligations/{ob.id}/milestones/first_patient_in",
                           json={}, headers=world.other_mah.headers)
    r_missing = client.put(f"/v1/products/99999/obligations/{ob.id}/milestones/first_patient_in",
                           json={}, headers=world.other_mah.headers)
    assert r_foreign.status_code == 404 and _answer(r_foreign) == _answer(r_missing)
    # another user's API key
    key = client.post("/v1/auth/api-keys", json={"name": "lab"}, headers=world.clinic.headers).json()
    r_foreign = client.post(f"/v1/auth/api-keys/{key['id']}/revoke", headers=world.other_clinic.headers)
    r_missing = client.post("/v1/auth/api-keys/99999/revoke", headers=world.other_clinic.headers)
    assert r_foreign.status_code == 404 and _answer(r_foreign) == _answer(r_missing)
