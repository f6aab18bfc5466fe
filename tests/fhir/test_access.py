"""Same authentication and roles as the JSON API: a clinic writes its own cases (with an API key of
scope reports:write too), an MAH cases about its own products (the patient described); reads are
scoped as for /v1/reports; every refusal is an OperationOutcome."""
from __future__ import annotations

from tests.api.conftest import register, treat
from tests.fhir import bundles
from tests.fhir.helpers import case_id, issues, post, stored_counts


def _key(client, actor, scopes):
    r = client.post("/v1/auth/api-keys", json={"name": "ehr", "scopes": scopes}, headers=actor.headers)
    assert r.status_code == 201, r.text
    return type("Key", (), {"headers": {"Authorization": f"Bearer {r.json()['key']}"}})()


def test_clinic_api_key_with_reports_write_posts(client, world, treated):
    gateway = _key(client, world.clinic, ["reports:write"])
    r = post(client, gateway, bundles.r5())
    assert r.status_code == 201, r.text
    read_only = _key(client, world.clinic, ["read"])
    refused = post(client, read_only, bundles.r5("tcl"))
    assert refused.status_code == 403 and issues(refused) == [(None, "forbidden")]
    assert "reports:write" in refused.json()["issue"][0]["diagnostics"]


def test_clinics_and_mahs_post_others_do_not_and_unauthenticated_is_401(client, world, treated, db):
    for actor in (world.safety, world.admin):
        r = post(client, actor, bundles.r5())
        assert r.status_code == 403 and issues(r) == [(None, "forbidden")], actor
    # MAH B's case names CART-1, MAH A's product: refused as JSON intake refuses it, naming the event.
    r = post(client, world.other_mah, bundles.r5())
    assert r.status_code == 403 and issues(r) == [("Bundle.entry[0].resource", "forbidden")]
    assert "own products" in r.text
    r = post(client, None, bundles.r5())
    assert r.status_code == 401 and issues(r) == [(None, "login")]
    assert r.headers.get("WWW-Authenticate") == "Bearer"
    assert client.get("/fhir/AdverseEvent/1").status_code == 401
    assert stored_counts(db) == (0, 0, 0, 0)


def test_an_mah_posts_a_case_about_its_product_with_the_patient_described(client, world, treated, db):
    r = post(client, world.mah, bundles.r5())
    assert r.status_code == 201, r.text
    v = client.get(f"/v1/reports/{case_id(r)}", headers=world.mah.headers).json()
    assert v["sender_id"] == world.mah_a.id and v["patient_id"] is None
    # The MAH's identifier P-001 is no clinic's registered patient: described (female), pseudonymized.
    assert (v["latest"]["patient"]["sex"], v["latest"]["patient"]["pseudonym"] is not None) == ("female", True)
    (drug,) = v["latest"]["drugs"]
    assert (drug["treatment_id"], drug["product_id"], drug["batch_lot"]) == (None, treated[1]["product_id"], "LOT-1")
    assert "P-001" not in r.text


def test_another_clinic_cannot_report_on_our_patient(client, world, treated, db):
    # The same identifier at clinic B is another pseudonym: not clinic A's registered patient, but one
    # clinic B's report describes (never linked to clinic A's patient or treatment).
    r = post(client, world.other_clinic, bundles.r5())
    assert r.status_code == 201, r.text
    v = client.get(f"/v1/reports/{case_id(r)}", headers=world.other_clinic.headers).json()
    assert v["patient_id"] is None and v["latest"]["drugs"][0]["treatment_id"] is None
    # Clinic B's own registered patient P-001 has no CART-1 treatment of lot LOT-1... until it has.
    patient = register(client, world.other_clinic)
    other = bundles.r5()
    bundles.event(other)["identifier"][0]["value"] = "AE-CRS-B"
    r = post(client, world.other_clinic, other)
    assert r.status_code == 422 and issues(r) == [
        ("Bundle.entry[0].resource.suspectEntity[0].instanceReference.code", "not-found")]
    treat(client, world.other_clinic, patient["id"])
    assert post(client, world.other_clinic, other).status_code == 201
    # The first case, now naming a registered patient, may not change patients.
    r = post(client, world.other_clinic, bundles.r5(version_id="2"))
    assert r.status_code == 422 and issues(r) == [("Bundle.entry[0].resource.subject", "business-rule")]
    assert stored_counts(db)[0] == 2
    # The same case id from clinic A is clinic A's own case.
    assert post(client, world.clinic, bundles.r5()).status_code == 201
    assert stored_counts(db)[0] == 3


def test_reads_are_scoped_like_json_reports(client, world, treated):
    cid = case_id(post(client, world.clinic, bundles.r5()))
    url = f"/fhir/AdverseEvent/{cid}"
    for actor, status in ((world.clinic, 200), (world.safety, 200), (world.mah, 200), (world.other_clinic, 404),
                          (world.other_mah, 404), (world.admin, 403)):
        r = client.get(url, headers=actor.headers)
        assert r.status_code == status, (actor.user.username, r.text)
        assert r.json()["resourceType"] == ("AdverseEvent" if status == 200 else "OperationOutcome")
    assert issues(client.get(url, headers=world.other_clinic.headers)) == [(None, "not-found")]
    for bad in ("/fhir/AdverseEvent/abc", "/fhir/AdverseEvent/0", "/fhir/AdverseEvent/99999",
                f"/fhir/AdverseEvent/{cid}/_history/0"):
        r = client.get(bad, headers=world.clinic.headers)
        assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome", bad
    r = client.get("/fhir/AdverseEvent", headers=world.clinic.headers)
    assert r.status_code == 404 and "search" in r.json()["issue"][0]["diagnostics"]


def test_a_json_report_reads_back_as_fhir(client, world, treated):
    """Any case the caller may read renders, whatever format it came in (here JSON, lot from the treatment)."""
    from fhir.resources.adverseevent import AdverseEvent

    from tests.api.conftest import report_payload

    patient, treatment = treated
    payload = report_payload(patient["id"], treatment["id"])
    payload["reactions"].append({"pt_code": "LOCAL-0002", "pt_name": "Neutropenia", "outcome": "recovering"})
    case = client.post("/v1/reports", json=payload, headers=world.clinic.headers).json()
    ae = AdverseEvent.model_validate(client.get(f"/fhir/AdverseEvent/{case['id']}", headers=world.mah.headers).json())
    assert ae.code.coding[0].code == "LOCAL-0001" and ae.contained[0].batch.lotNumber == "LOT-1"
    (condition,) = ae.contained[1:]
    assert condition.code.coding[0].display == "Neutropenia" and condition.clinicalStatus.coding[0].code == "remission"
    assert ae.resultingEffect[0].reference == "#reaction1"
