"""A subject the clinic has not registered becomes the patient the report describes, and drugs that are
not the patient's treatments are drugs as reported in their roles; R5 and R4 field by field, the same
case as JSON stored alike, read back; on both databases."""
from __future__ import annotations

import json

import sqlalchemy as sa
from fhir.resources.adverseevent import AdverseEvent
from fhir.resources.bundle import Bundle
from fhir.resources.R4B.adverseevent import AdverseEvent as AdverseEventR4B

from pv_service.patients.service import pseudonym_for
from tests.fhir import bundles
from tests.fhir.helpers import XML, case_id, created_event, issues, post, stored_counts

R4B_JSON = "application/fhir+json; fhirVersion=4.3"
IDENTIFIERS = [i["value"] for i in bundles.UNREGISTERED]


def _stored(client, actor, r) -> dict:
    assert r.status_code == 201, r.text
    case = client.get(f"/v1/reports/{case_id(r)}", headers=actor.headers)
    assert case.status_code == 200, case.text
    return case.json()


def _drug(d: dict) -> tuple:
    return (d["role"], d["treatment_id"], d["product_id"], d["reported_product_code"], d["name_as_reported"],
            d["batch_lot"])


def _no_identifier_stored(db) -> None:
    """Neither the MRN, the national id nor the name is in any row of the case tables."""
    with db.connect() as conn:
        for table in ("safety_case", "case_version", "case_drug", "case_reaction", "audit_record"):
            text = str(conn.execute(sa.text(f"select * from {table}")).all())
            assert not any(s in text for s in (*IDENTIFIERS, "Zhang")), table


def test_r5_bundle_for_an_unregistered_patient_is_stored_field_by_field(client, world, treated, db):
    r = post(client, world.clinic, bundles.r5_unregistered())
    case = _stored(client, world.clinic, r)
    # Stored, saying the identifiers matched no registered patient (a typo would, too); never echoing them.
    warned = json.loads(r.headers["X-Warnings"])["issue"]
    assert [(i["severity"], i["code"], i["expression"]) for i in warned] == [
        ("warning", "informational", ["Bundle.entry[0].resource.subject"])]
    assert "describes" in warned[0]["diagnostics"] and not any(s in r.headers["X-Warnings"] for s in IDENTIFIERS)
    assert (case["sender_case_id"], case["patient_id"], case["first_received"]) == ("AE-CRS", None, "2025-02-01")
    v = case["latest"]
    assert (v["source_format"], v["patient_id"], v["reporter_qualification"], v["reporter_country"], v["serious"]) == (
        "fhir", None, "physician", "CN", True)
    # Both identifiers, joined in order, are the pseudonym (as JSON's `identifiers` and E2B's D.1.1 make it).
    assert v["patient"] == {"pseudonym": pseudonym_for(world.clinic_a.id, "|".join(IDENTIFIERS)), "sex": "female",
                            "birth_year": 1970, "age": None, "age_unit": None, "age_group": None, "weight_kg": None,
                            "height_cm": None, "death_date": None}
    cart = treated[1]["product_id"]
    # CART-1 by the registry's code (not the patient's treatment: there is no registered patient); the
    # contributing factors in their roles; the non-drug factor left aside.
    assert [_drug(d) for d in v["drugs"]] == [
        ("suspect", None, cart, "CART-1", "Testkymr", "LOT-1"),
        ("concomitant", None, None, "L04AC07", "tocilizumab", None),
        ("not_administered", None, None, "L01BB05", "fludarabine", None)]
    suspect = v["drugs"][0]["detail"]
    assert suspect["fhir_product"] == [bundles.PRODUCT] and suspect["code_system"] == bundles.PRODUCT["system"]
    assert suspect["dosages"][0]["lot"] == "LOT-1"
    assert suspect["relatedness"] == [{"reaction_ref": None, "source": None, "method": None,
                                       "result": "Probably-Likely"}]
    assert suspect["fhir_relatedness"][0]["assessment"] == [{"system": bundles.CAUS, "code": "Probably-Likely"}]
    assert v["product_codes"] == ["CART-1"]
    (reaction,) = v["reactions"]
    assert (reaction["pt_code"], reaction["onset_date"], reaction["outcome"], reaction["seriousness"]["hospitalisation"],
            reaction["causality"]) == ("90000402", "2025-01-12", "recovered", True, "probably_related")
    assert not any(s in r.text for s in (*IDENTIFIERS, "Zhang"))
    _no_identifier_stored(db)


def test_r4_bundle_for_an_unregistered_patient_is_stored_field_by_field(client, world, treated, db):
    r = post(client, world.clinic, bundles.r4_unregistered())
    v = _stored(client, world.clinic, r)["latest"]
    assert v["patient_id"] is None
    assert (v["patient"]["pseudonym"], v["patient"]["sex"], v["patient"]["birth_year"]) == (
        pseudonym_for(world.clinic_a.id, "|".join(IDENTIFIERS)), "female", 1970)
    assert [_drug(d) for d in v["drugs"]] == [
        ("suspect", None, treated[1]["product_id"], "CART-1", "Testkymr", "LOT-1"),
        ("not_administered", None, None, "L01BB05", "fludarabine", None)]
    assert v["reactions"][0]["pt_code"] == "90000402" and v["serious"]
    _no_identifier_stored(db)


def test_a_registered_patient_keeps_its_treatment_and_other_drugs_are_as_reported(client, world, treated, db):
    bundle = bundles.r5_unregistered()
    bundle["entry"][1]["resource"]["identifier"] = [{"value": "P-001"}]  # clinic A's registered patient
    r = post(client, world.clinic, bundle)
    assert "X-Warnings" not in r.headers
    v = _stored(client, world.clinic, r)["latest"]
    patient, treatment = treated
    assert (v["patient_id"], v["patient"]) == (patient["id"], None)
    assert [_drug(d) for d in v["drugs"]] == [
        ("suspect", treatment["id"], treatment["product_id"], None, None, "LOT-1"),
        ("concomitant", None, None, "L04AC07", "tocilizumab", None),
        ("not_administered", None, None, "L01BB05", "fludarabine", None)]
    # A suspect the registry does not hold is a drug as reported even for a registered patient.
    other = bundles.r5(version_id="2", product={"system": "http://www.whocc.no/atc", "code": "L01XX",
                                                "display": "investigational"})
    other["entry"].append({"fullUrl": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000009", "resource": {
        "resourceType": "Medication", "id": "m9", "code": {"coding": [bundles.PRODUCT]}, "batch": {"lotNumber": "LOT-1"}}})
    bundles.event(other)["suspectEntity"].insert(0, {"instanceReference": {"reference": "Medication/m9"}})
    v2 = _stored(client, world.clinic, post(client, world.clinic, other))["latest"]
    assert [_drug(d) for d in v2["drugs"]] == [
        ("suspect", treatment["id"], treatment["product_id"], None, None, "LOT-1"),
        ("suspect", None, None, "L01XX", "investigational", "LOT-1")]


def test_the_same_case_as_json_and_as_fhir_is_stored_alike(client, world, treated, coded):
    payload = {
        "sender_case_id": "CASE-JSON", "received_date": "2025-02-01",
        "reporter": {"qualification": "physician", "country": "CN"},
        "patient": {"identifiers": IDENTIFIERS, "sex": "female", "birth_year": 1970},
        "drugs": [{"role": "suspect", "product_code": "CART-1", "code_system": bundles.PRODUCT["system"],
                   "name_as_reported": "Testkymr", "dosages": [{"lot": "LOT-1"}],
                   "relatedness": [{"result": "Probably-Likely"}]},
                  {"role": "concomitant", "product_code": "L04AC07", "code_system": "http://www.whocc.no/atc",
                   "name_as_reported": "tocilizumab"},
                  {"role": "not_administered", "product_code": "L01BB05", "code_system": "http://www.whocc.no/atc",
                   "name_as_reported": "fludarabine"}],
        "reactions": [{"meddra_version": "90.0", "llt_code": "90000402", "onset_date": "2025-01-12",
                       "seriousness": {"hospitalisation": True}, "outcome": "recovered",
                       "causality": "probably_related"}],
        "narrative": bundles.CASES["crs"]["note"],
    }
    r = client.post("/v1/reports", json=payload, headers=world.clinic.headers)
    assert r.status_code == 201, r.text
    as_json = r.json()["latest"]
    as_fhir = _stored(client, world.clinic, post(client, world.clinic, bundles.r5_unregistered()))["latest"]

    def shared(v: dict) -> dict:
        fhir_only = {"fhir_product", "fhir_relatedness"}
        return {"patient": v["patient"], "patient_id": v["patient_id"], "serious": v["serious"],
                "dates": (v["received_date"], v["latest_info_date"]), "narrative": v["narrative"],
                "reporter": (v["reporter_qualification"], v["reporter_country"]), "codes": v["product_codes"],
                "drugs": [{**{k: x for k, x in d.items() if k != "detail"},
                           "detail": {k: x for k, x in d["detail"].items() if k not in fhir_only}}
                          for d in v["drugs"]],
                "reactions": [{k: x for k, x in rx.items()} for rx in v["reactions"]]}

    assert shared(as_fhir) == shared(as_json)
    assert as_fhir["patient"]["pseudonym"] is not None and as_fhir["drugs"][0]["product_id"] == treated[1]["product_id"]


def test_read_back_renders_the_described_patient_and_the_drugs_in_their_roles(client, world, treated):
    r = post(client, world.clinic, bundles.r5_unregistered())
    assert r.status_code == 201, r.text
    for body in (created_event(r), client.get(f"/fhir/AdverseEvent/{case_id(r)}", headers=world.clinic.headers).json()):
        ae = AdverseEvent.model_validate(body)
        contained = {c.id: c for c in ae.contained}
        assert ae.subject.reference == "#patient" and ae.subject.identifier is None
        patient = contained["patient"]
        assert (patient.gender, str(patient.birthDate), patient.identifier, patient.name) == (
            "female", "1970", None, None)
        assert [s.instanceReference.reference for s in ae.suspectEntity] == ["#drug0"]
        assert contained["drug0"].code.coding[0].code == "CART-1" and contained["drug0"].batch.lotNumber == "LOT-1"
        taken = [contained[f.itemReference.reference[1:]] for f in ae.contributingFactor]
        assert [t.medication.concept.coding[0].code for t in taken] == ["L04AC07", "L01BB05"]
        assert [t.adherence.code.coding[0].code if t.adherence else None for t in taken] == [None, "not-taking"]
        assert not any(s in str(body) for s in (*IDENTIFIERS, "Zhang"))
    # R4 has no place for concomitant drugs: the patient and the suspect product only.
    r4 = client.get(f"/fhir/AdverseEvent/{case_id(r)}", headers={**world.clinic.headers, "Accept": R4B_JSON})
    ae4 = AdverseEventR4B.model_validate(r4.json())
    assert ae4.subject.reference == "#patient" and [c.id for c in ae4.contained] == ["drug0", "patient"]
    assert ae4.contained[1].gender == "female"
    xml = client.get(f"/fhir/AdverseEvent/{case_id(r)}", headers={**world.clinic.headers, "Accept": XML})
    assert AdverseEvent.model_validate_xml(xml.content).contained[-1].gender == "female"


def test_a_contributing_drug_not_sent_is_named_and_other_factors_are_left_aside(client, world, treated, db):
    bundle = bundles.r5_unregistered()
    del bundle["entry"][4]  # tocilizumab's MedicationStatement
    bundles.event(bundle)["contributingFactor"].append({"itemReference": {"reference": "Condition/c-elsewhere"}})
    r = post(client, world.clinic, bundle)
    assert r.status_code == 422 and issues(r) == [
        ("Bundle.entry[0].resource.contributingFactor[0].itemReference", "not-found")], r.text
    assert stored_counts(db) == (0, 0, 0, 0)


def test_an_unregistered_patients_drug_naming_nothing_is_refused(client, world, treated, db):
    bundle = bundles.r5_unregistered()
    bundle["entry"][4]["resource"]["medication"] = {"reference": {"reference": "Medication/elsewhere"}}
    r = post(client, world.clinic, bundle)
    assert r.status_code == 422 and issues(r) == [
        ("Bundle.entry[0].resource.contributingFactor[0].itemReference", "required")], r.text
    # Without any suspect product the case fails E2B's minimum criteria, at suspectEntity.
    bundle = bundles.r5_unregistered()
    del bundles.event(bundle)["suspectEntity"]
    r = post(client, world.clinic, bundle)
    assert r.status_code == 422 and issues(r) == [("Bundle.entry[0].resource.suspectEntity", "required")], r.text
    assert stored_counts(db) == (0, 0, 0, 0)


def test_a_logical_subject_not_registered_and_a_death_date(client, world, treated, db):
    # One AdverseEvent, references contained, the subject a logical reference to an unregistered MRN.
    ae = bundles.event(bundles.r5())
    ae["subject"] = {"identifier": {"system": "urn:example:clinic-a:mrn", "value": "MRN-4471"}}
    ae["contained"] = [{"resourceType": "Medication", "id": "m1", "code": {"coding": [bundles.PRODUCT]},
                        "batch": {"lotNumber": "LOT-9"}},
                       {"resourceType": "Practitioner", "id": "d1", "address": [{"country": "CN"}]}]
    ae["suspectEntity"][0]["instanceReference"] = {"reference": "#m1"}
    ae["recorder"] = {"reference": "#d1"}
    r = post(client, world.clinic, ae, path="/fhir/AdverseEvent")
    v = _stored(client, world.clinic, r)["latest"]
    # Only the identifier describes it; the lot is the reported one (no treatment's lot to check against).
    assert (v["patient"]["pseudonym"], v["patient"]["sex"], v["patient"]["birth_year"]) == (
        pseudonym_for(world.clinic_a.id, "MRN-4471"), None, None)
    assert [_drug(d) for d in v["drugs"]] == [("suspect", None, treated[1]["product_id"], "CART-1", "Testkymr", "LOT-9")]
    # R4: the Patient's death date is the described patient's (D.9.1).
    bundle = bundles.r4_unregistered()
    bundle["entry"][1]["resource"]["deceasedDateTime"] = "2025-03-01"
    bundles.event(bundle)["identifier"]["value"] = "AE-DEATH"
    v = _stored(client, world.clinic, post(client, world.clinic, bundle))["latest"]
    assert v["patient"]["death_date"] == "2025-03-01"
    back = AdverseEventR4B.model_validate(client.get(
        f"/fhir/AdverseEvent/{v['case_id']}", headers={**world.clinic.headers, "Accept": R4B_JSON}).json())
    assert str(back.contained[-1].deceasedDateTime) == "2025-03-01"


def test_a_reported_drugs_values_out_of_bounds_name_the_suspect_entity(client, world, treated, db):
    bundle = bundles.r5_unregistered()
    bundle["entry"][2]["resource"]["code"] = {"coding": [{"system": "urn:x:" + "s" * 120, "code": "C" * 101}],
                                              "text": "T" * 251}
    r = post(client, world.clinic, bundle)
    assert r.status_code == 422 and issues(r) == [
        ("Bundle.entry[0].resource.suspectEntity[0]", "value")], r.text
    text = r.json()["issue"][0]["diagnostics"]
    assert "the product's coding code: " in text and "the product's text (or display): " in text
    assert stored_counts(db) == (0, 0, 0, 0)


def test_a_transaction_is_answered_by_a_transaction_response(client, world, treated):
    """FHIR RESTful API: a transaction's answer is a transaction-response Bundle, one entry per request
    entry in order, the AdverseEvent's naming the stored version; the answer was the bare AdverseEvent."""
    bundle = bundles.r5_unregistered()
    r = post(client, world.clinic, bundle)
    assert r.status_code == 201, r.text
    body = r.json()
    answer = Bundle.model_validate(body)  # a valid R5 Bundle
    assert answer.type == "transaction-response" and len(answer.entry) == len(bundle["entry"])
    event, *others = body["entry"]
    cid = case_id(r)
    assert event["response"]["status"] == "201 Created"
    assert event["response"]["location"] == f"AdverseEvent/{cid}/_history/1" == r.headers["Location"][len("/fhir/"):]
    assert event["response"]["etag"] == 'W/"1"' == r.headers["ETag"] and event["response"]["lastModified"]
    assert event["resource"]["resourceType"] == "AdverseEvent" and event["resource"]["id"] == str(cid)
    # the warning (no registered patient) is the entry's outcome, as it is the header's
    assert event["response"]["outcome"] == json.loads(r.headers["X-Warnings"])
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"][1:]]
    for kind, entry in zip(kinds, others):
        assert "resource" not in entry and "location" not in entry["response"]
        assert entry["response"]["status"] == "200 OK"
        (note,) = entry["response"]["outcome"]["issue"]
        assert note["severity"] == "information" and note["diagnostics"].startswith(f"{kind} was read into "
                                                                                    f"AdverseEvent/{cid} ")
    again = post(client, world.clinic, bundle)  # resent unchanged: 200, the same version
    assert again.status_code == 200 and again.json()["entry"][0]["response"]["status"] == "200 OK"
    assert again.json()["entry"][0]["response"]["location"] == event["response"]["location"]
    # a collection Bundle is no transaction: its answer stays the stored AdverseEvent
    collection = bundles.r5("tcl", bundle_type="collection")
    c = post(client, world.clinic, collection)
    assert c.status_code == 201 and c.json()["resourceType"] == "AdverseEvent", c.text
