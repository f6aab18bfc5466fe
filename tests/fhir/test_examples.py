"""HL7's own AdverseEvent examples (../shared/data/interop/fhir): refused as sent, each problem named
by its FHIRPath, and imported once the clinic's Bundle holds what they reference and a MedDRA coding."""
from __future__ import annotations

import json

from fhir.resources.adverseevent import AdverseEvent

from tests.fhir import bundles
from tests.fhir.conftest import example
from tests.fhir.helpers import XML, issues, post, stored_counts


def test_r4b_json_example_as_sent_is_refused_naming_each_problem(client, world, treated, db):
    r = post(client, world.clinic, example("r4b/adverseevent-example.json"), path="/fhir/AdverseEvent")
    assert r.status_code == 422
    # Patient/example, Medication/example and Practitioner/example are not in the request; its only
    # coding is SNOMED CT.
    assert issues(r) == [
        ("AdverseEvent.suspectEntity[0].instance", "not-found"),
        ("AdverseEvent.recorder", "not-found"),
        ("AdverseEvent.subject", "not-found"),
        ("AdverseEvent.event.coding", "required"),
    ]
    assert "Patient/example" in r.json()["issue"][2]["diagnostics"]
    assert stored_counts(db) == (0, 0, 0, 0)


def test_r5_xml_example_as_sent_is_refused_naming_each_problem(client, world, treated, db):
    r = post(client, world.clinic, example("r5/adverseevent-example.xml"), path="/fhir/AdverseEvent", content_type=XML)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(XML)  # answered in the request's format
    from fhir.resources.operationoutcome import OperationOutcome

    oo = OperationOutcome.model_validate_xml(r.content)
    assert [(i.expression[0], i.code) for i in oo.issue] == [
        ("AdverseEvent.suspectEntity[0].instanceReference", "not-found"),
        ("AdverseEvent.recorder", "not-found"),
        ("AdverseEvent.subject", "not-found"),
        ("AdverseEvent.code.coding", "required"),
    ]
    assert stored_counts(db) == (0, 0, 0, 0)


def _held(resource: dict, version: str) -> dict:
    """The example in a collection Bundle with what it references: the clinic's patient P-001, the
    CART-1 infusion of lot LOT-1 and a physician; the event also coded in MedDRA (test dictionary)."""
    event_key = "event" if version == "R4" else "code"
    resource[event_key]["coding"].append({"system": bundles.MDR, "version": "90.0", "code": "90000303",
                                          "display": "Neutropenia"})
    med = {"resourceType": "Medication", "id": "example", "code": {"coding": [bundles.PRODUCT]},
           "batch": {"lotNumber": "LOT-1"}}
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://clinic-a.example/fhir/AdverseEvent/example", "resource": resource},
        {"fullUrl": "http://clinic-a.example/fhir/Patient/example", "resource": {
            "resourceType": "Patient", "id": "example", "identifier": [{"value": "P-001"}]}},
        {"fullUrl": "http://clinic-a.example/fhir/Medication/example", "resource": med},
        {"fullUrl": "http://clinic-a.example/fhir/Practitioner/example", "resource": {
            "resourceType": "Practitioner", "id": "example"}},
    ]}


def test_r4b_example_with_what_it_references_imports_field_by_field(client, world, treated):
    patient, treatment = treated
    resource = json.loads(example("r4b/adverseevent-example.json"))
    r = post(client, world.clinic, _held(resource, "R4"))
    assert r.status_code == 201, r.text
    case = client.get(f"/v1/reports/{r.json()['id']}", headers=world.clinic.headers).json()
    v = case["latest"]
    assert (case["sender_case_id"], case["patient_id"], case["first_received"]) == ("49476534", patient["id"], "2026-11-23")
    assert (v["serious"], v["reporter_qualification"], v["reporter_country"]) == (False, "other_health_professional", "CN")
    (reaction,) = v["reactions"]
    assert (reaction["pt_code"], reaction["pt_name"], reaction["onset_date"], reaction["outcome"]) == (
        "90000303", "Neutropenia", "2017-01-29", "unknown")
    assert not any(reaction["seriousness"].values())
    assert v["drugs"][0]["treatment_id"] == treatment["id"]
    fhir = v["detail"]["fhir"]
    assert fhir["event_codings"] == [{"system": "http://snomed.info/sct", "code": "304386008",
                                      "display": "O/E - itchy rash"}]
    assert fhir["event_text"] == "This was a mild rash on the left forearm"
    assert fhir["categories"] == [[{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-category",
                                    "code": "product-use-error", "display": "Product Use Error"}]]
    assert fhir["severity"][0]["code"] == "mild" and fhir["seriousness"][0]["code"] == "Non-serious"
    assert (fhir["resource_id"], fhir["identifier_system"]) == ("example", "http://acme.com/ids/patients/risks")
    # The 2017 onset precedes the 2025 infusion: stored, with a warning.
    assert json.loads(r.headers["X-Warnings"])["issue"][0]["expression"] == ["Bundle.entry[0].resource.date"]
    back = client.get(f"/fhir/AdverseEvent/{case['id']}", headers=world.clinic.headers).json()
    ae = AdverseEvent.model_validate(back)
    assert [c.code for c in ae.code.coding] == ["90000303", "304386008"]
    assert ae.code.text == "This was a mild rash on the left forearm"
    assert ae.seriousness.coding[0].code == "non-serious"


def test_r5_example_with_what_it_references_imports_field_by_field(client, world, treated):
    from fhir.resources.bundle import Bundle
    from lxml import etree

    parsed = AdverseEvent.model_validate_xml(example("r5/adverseevent-example.xml"))
    resource = json.loads(parsed.model_dump_json())
    r = post(client, world.clinic, _held(resource, "R5"))
    assert r.status_code == 201, r.text
    v = client.get(f"/v1/reports/{r.json()['id']}", headers=world.clinic.headers).json()["latest"]
    (reaction,) = v["reactions"]
    assert (reaction["pt_code"], reaction["onset_date"], v["serious"]) == ("90000303", "2017-01-29", False)
    assert v["detail"]["fhir"]["status"] == "completed" and v["detail"]["fhir"]["version"] == "R5"
    assert v["detail"]["fhir"]["event_codings"][0]["code"] == "304386008"
    # The same Bundle as XML: the same report (unchanged).
    xml = Bundle.model_validate(_held(json.loads(parsed.model_dump_json()), "R5")).model_dump_xml()
    assert etree.QName(etree.fromstring(xml.encode() if isinstance(xml, str) else xml)).localname == "Bundle"
    again = post(client, world.clinic, xml, content_type=XML)
    assert again.status_code == 200, again.text
