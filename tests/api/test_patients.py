"""Pseudonymous patients, treatments and tenant isolation."""
from __future__ import annotations

from sqlmodel import select

from pv_service.patients.models import Patient
from tests.api.conftest import register, treat


def test_same_local_id_maps_to_the_same_patient_and_is_never_stored(client, session, world, products):
    first = client.post("/v1/patients", json={"local_id": "MRN-0042", "sex": "male", "birth_year": 1961},
                        headers=world.clinic.headers)
    again = client.post("/v1/patients", json={"local_id": "MRN-0042", "sex": "male", "birth_year": 1961},
                        headers=world.clinic.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert "MRN-0042" not in first.text
    stored = session.exec(select(Patient)).all()
    assert len(stored) == 1
    assert stored[0].pseudonym != "MRN-0042" and len(stored[0].pseudonym) == 64


def test_same_local_id_at_two_clinics_is_two_patients(client, world, products):
    a = register(client, world.clinic, "MRN-1")
    b = register(client, world.other_clinic, "MRN-1")
    assert a["id"] != b["id"]


def test_conflicting_demographics_for_a_known_patient_is_409(client, world, products):
    register(client, world.clinic, "MRN-7", birth_year=1980)
    r = client.post("/v1/patients", json={"local_id": "MRN-7", "sex": "female", "birth_year": 1981},
                    headers=world.clinic.headers)
    assert r.status_code == 409


def test_bad_patient_input_names_the_field(client, world, products):
    r = client.post("/v1/patients", json={"local_id": "X", "sex": "other", "birth_year": "nineteen"},
                    headers=world.clinic.headers)
    assert r.status_code == 422
    locs = {tuple(e["loc"]) for e in r.json()["detail"]}
    assert ("body", "sex") in locs and ("body", "birth_year") in locs
    r = client.post("/v1/patients", json={"local_id": "X", "sex": "male", "birth_year": 2030},
                    headers=world.clinic.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "birth_year"]


def test_clinic_cannot_read_another_clinics_patient(client, world, products):
    p = register(client, world.clinic)
    assert client.get(f"/v1/patients/{p['id']}", headers=world.clinic.headers).status_code == 200
    assert client.get(f"/v1/patients/{p['id']}", headers=world.other_clinic.headers).status_code == 404
    assert client.get("/v1/patients", headers=world.other_clinic.headers).json()["items"] == []


def test_clinic_finds_its_patient_by_local_id(client, world, products):
    p = register(client, world.clinic, "MRN-55")
    register(client, world.clinic, "MRN-56")
    r = client.get("/v1/patients", params={"local_id": "MRN-55"}, headers=world.clinic.headers)
    assert [x["id"] for x in r.json()["items"]] == [p["id"]]
    r = client.get("/v1/patients", params={"local_id": "MRN-55"}, headers=world.other_clinic.headers)
    assert r.json()["items"] == []


def test_mah_sees_only_patients_and_treatments_of_its_products(client, world, products):
    p1 = register(client, world.clinic, "A1")
    p2 = register(client, world.clinic, "A2")
    t1 = treat(client, world.clinic, p1["id"], "CART-1")
    t2 = treat(client, world.clinic, p2["id"], "MSC-1")
    mine = client.get("/v1/patients", headers=world.mah.headers).json()["items"]
    assert [x["id"] for x in mine] == [p1["id"]]
    assert client.get(f"/v1/patients/{p2['id']}", headers=world.mah.headers).status_code == 404
    assert client.get(f"/v1/treatments/{t2['id']}", headers=world.mah.headers).status_code == 404
    assert client.get(f"/v1/treatments/{t1['id']}", headers=world.mah.headers).status_code == 200
    assert [t["id"] for t in client.get("/v1/treatments", headers=world.other_mah.headers).json()["items"]] == [t2["id"]]


def test_mah_and_safety_cannot_write_patients(client, world, products):
    body = {"local_id": "Z", "sex": "male", "birth_year": 1970}
    for actor in (world.mah, world.safety, world.admin):
        assert client.post("/v1/patients", json=body, headers=actor.headers).status_code == 403


def test_admin_does_not_read_patient_data(client, world, products):
    register(client, world.clinic)
    assert client.get("/v1/patients", headers=world.admin.headers).status_code == 403


def test_safety_officer_reads_every_clinic(client, world, products):
    register(client, world.clinic, "A")
    register(client, world.other_clinic, "B")
    assert len(client.get("/v1/patients", headers=world.safety.headers).json()["items"]) == 2


def test_treatment_validation(client, world, products):
    p = register(client, world.clinic, birth_year=1990)
    other = register(client, world.other_clinic, "B")
    base = {"patient_id": p["id"], "product_code": "CART-1", "batch_number": "L1", "infusion_date": "2025-03-01"}
    cases = [
        ({"product_code": "NOPE"}, ["body", "product_code"], "unknown product"),
        ({"infusion_date": "2027-01-01"}, ["body", "infusion_date"], "future"),
        ({"infusion_date": "1985-01-01"}, ["body", "infusion_date"], "year of birth"),
        ({"patient_id": other["id"]}, ["body", "patient_id"], "your clinic"),
    ]
    for change, loc, words in cases:
        r = client.post("/v1/treatments", json={**base, **change}, headers=world.clinic.headers)
        assert r.status_code == 422, change
        assert r.json()["detail"][0]["loc"] == loc and words in r.json()["detail"][0]["msg"]
    assert client.get("/v1/treatments", headers=world.clinic.headers).json()["items"] == []


def test_a_patient_may_have_several_treatments_and_filters_work(client, world, products):
    p = register(client, world.clinic)
    t1 = treat(client, world.clinic, p["id"], "CART-1", "2024-05-01", "L1")
    t2 = treat(client, world.clinic, p["id"], "MSC-1", "2025-06-01", "L2")
    h = world.safety.headers
    assert [t["id"] for t in client.get("/v1/treatments", params={"patient_id": p["id"]}, headers=h).json()["items"]] == [t1["id"], t2["id"]]
    assert [t["id"] for t in client.get("/v1/treatments", params={"product": "MSC-1"}, headers=h).json()["items"]] == [t2["id"]]
    assert [t["id"] for t in client.get("/v1/treatments", params={"infused_to": "2024-12-31"}, headers=h).json()["items"]] == [t1["id"]]
    assert client.get("/v1/treatments", params={"clinic_id": world.clinic_b.id}, headers=h).json()["items"] == []


def test_cursor_pagination_is_stable_and_complete(client, world, products):
    ids = [register(client, world.clinic, f"P{i}")["id"] for i in range(7)]
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/patients", params=params, headers=world.clinic.headers).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        register(client, world.clinic, f"late-{len(seen)}")  # inserts during paging do not shift pages
    assert seen[:7] == ids
    assert client.get("/v1/patients", params={"cursor": "!!bad"}, headers=world.clinic.headers).status_code == 422
