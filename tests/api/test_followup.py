"""Follow-up visits and contact outcomes."""
from __future__ import annotations



def visit(**kw):
    body = {"treatment_id": kw.pop("treatment_id"), "contact_date": "2025-04-10", "timepoint": "M3",
            "assessments": {"malignancy_screening": "negative", "vector_test": "not_detected",
                            "blood_counts": {"anc_10e9_l": 1.8, "platelets_10e9_l": 140}, "igg_g_l": 4.1}}
    body.update(kw)
    return body


def test_visit_round_trip_with_assessments(client, world, treated):
    _, t = treated
    r = client.post("/v1/followup-contacts", json=visit(treatment_id=t["id"]), headers=world.clinic.headers)
    assert r.status_code == 201, r.text
    got = client.get(f"/v1/followup-contacts/{r.json()['id']}", headers=world.mah.headers).json()
    assert got["vital_status"] == "alive" and got["timepoint"] == "M3"
    assert got["assessments"]["malignancy_screening"] == "negative"
    assert got["assessments"]["blood_counts"]["anc_10e9_l"] == 1.8
    assert got["assessments"]["igg_g_l"] == 4.1


def test_visit_before_infusion_or_in_future_is_refused(client, world, treated):
    _, t = treated
    for date, words in (("2025-01-09", "before the infusion"), ("2026-12-01", "future")):
        r = client.post("/v1/followup-contacts", json=visit(treatment_id=t["id"], contact_date=date), headers=world.clinic.headers)
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "contact_date"] and words in r.json()["detail"][0]["msg"]


def test_contact_outcomes_and_consistency(client, world, treated):
    _, t = treated
    h = world.clinic.headers
    bad = client.post("/v1/followup-contacts", json={"treatment_id": t["id"], "kind": "death", "contact_date": "2025-06-01",
                                                     "vital_status": "alive"}, headers=h)
    assert bad.status_code == 422
    death = client.post("/v1/followup-contacts", json={"treatment_id": t["id"], "kind": "death", "contact_date": "2025-06-01"}, headers=h)
    assert death.status_code == 201 and death.json()["vital_status"] == "dead"
    later = client.post("/v1/followup-contacts", json=visit(treatment_id=t["id"], contact_date="2025-07-01"), headers=h)
    assert later.status_code == 409
    lost = client.post("/v1/followup-contacts", json={"treatment_id": t["id"], "kind": "unreachable", "contact_date": "2025-05-01"}, headers=h)
    assert lost.status_code == 201 and lost.json()["vital_status"] == "unknown"


def test_contacts_are_tenant_scoped_and_filterable(client, world, treated, products):
    _, t = treated
    client.post("/v1/followup-contacts", json=visit(treatment_id=t["id"]), headers=world.clinic.headers)
    assert client.post("/v1/followup-contacts", json=visit(treatment_id=t["id"]), headers=world.other_clinic.headers).status_code == 422
    assert client.get("/v1/followup-contacts", headers=world.other_clinic.headers).json()["items"] == []
    assert client.get("/v1/followup-contacts", headers=world.other_mah.headers).json()["items"] == []
    h = world.safety.headers
    assert len(client.get("/v1/followup-contacts", params={"product": "CART-1", "kind": "visit"}, headers=h).json()["items"]) == 1
    assert client.get("/v1/followup-contacts", params={"date_from": "2025-05-01"}, headers=h).json()["items"] == []


def test_out_of_range_lab_values_are_422(client, world, treated):
    _, t = treated
    body = visit(treatment_id=t["id"])
    body["assessments"]["blood_counts"]["anc_10e9_l"] = -1
    r = client.post("/v1/followup-contacts", json=body, headers=world.clinic.headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "assessments", "blood_counts", "anc_10e9_l"]
