"""Bad input: an OperationOutcome naming the FHIRPath of each problem, nothing stored, no 500."""
from __future__ import annotations

import copy

import pytest

from tests.fhir import bundles
from tests.fhir.helpers import JSON, XML, case_id, issues, post, stored_counts

AE = "Bundle.entry[0].resource"


def _refused(client, world, db, body, status=422, **kw):
    r = post(client, world.clinic, body, **kw)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(("application/fhir+json", "application/fhir+xml"))
    assert stored_counts(db) == (0, 0, 0, 0)
    return issues(r)


def test_unknown_resource_types(client, world, treated, db):
    assert _refused(client, world, db, {"resourceType": "Patient", "identifier": [{"value": "P-001"}]},
                    path="/fhir/AdverseEvent") == [("Resource", "not-supported")]
    assert _refused(client, world, db, bundles.event(bundles.r5()), path="/fhir") == [("Resource", "not-supported")]
    bundle = bundles.r5()
    bundle["entry"].append({"resource": {"resourceType": "AdverseEventReport", "id": "x"}})
    assert _refused(client, world, db, bundle) == [("Bundle.entry[4].resource", "not-supported")]
    assert _refused(client, world, db, {"resourceType": 7}, path="/fhir") == [("Resource", "not-supported")]
    r = client.post("/fhir/Observation", content="{}", headers={**world.clinic.headers, "Content-Type": JSON})
    assert r.status_code == 404 and issues(r) == [(None, "not-supported")]


def test_a_bundle_referencing_resources_it_does_not_hold(client, world, treated, db):
    bundle = bundles.r5()
    del bundle["entry"][2]  # the Medication
    bundles.event(bundle)["recorder"] = {"reference": "Practitioner/nobody"}
    assert _refused(client, world, db, bundle) == [
        (f"{AE}.suspectEntity[0].instanceReference", "not-found"), (f"{AE}.recorder", "not-found")]
    wrong_type = bundles.r5()
    bundles.event(wrong_type)["subject"] = {"reference": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000002"}
    assert _refused(client, world, db, wrong_type) == [(f"{AE}.subject", "invalid")]


def test_r4_posted_as_r5_and_the_reverse(client, world, treated, db):
    as_r5 = _refused(client, world, db, bundles.r4(), content_type=f"{JSON}; fhirVersion=5.0")
    assert as_r5 == [(f"{AE}.{p}", "structure") for p in
                     ("event", "date", "severity", "suspectEntity[0].instance", "identifier", "outcome",
                      "suspectEntity[0].causality")]
    as_r4 = _refused(client, world, db, bundles.r5(), content_type=f"{JSON}; fhirVersion=4.0")
    assert as_r4 == [(f"{AE}.{p}", "structure") for p in
                     ("status", "code", "occurrenceDateTime", "note", "suspectEntity[0].instanceReference",
                      "identifier", "outcome", "suspectEntity[0].causality")]
    # Without a hint, a resource of both shapes is refused naming both.
    mixed = bundles.r5()
    bundles.event(mixed)["date"] = "2025-01-12"
    assert _refused(client, world, db, mixed)[0] == (f"{AE}.date", "structure")
    # Of neither shape: say which.
    bare = {"resourceType": "AdverseEvent", "actuality": "actual", "subject": {"reference": "#p"}}
    assert _refused(client, world, db, bare, path="/fhir/AdverseEvent") == [("AdverseEvent", "required")]
    assert _refused(client, world, db, bundles.r5(), status=415,
                    content_type=f"{JSON}; fhirVersion=3.0") == [(None, "not-supported")]


@pytest.mark.parametrize("change, expected", [
    # codes missing
    (lambda ae: ae["code"].update(coding=[ae["code"]["coding"][1]]), [(f"{AE}.code.coding", "required")]),
    (lambda ae: ae.pop("code"), [(f"{AE}.code", "required")]),
    (lambda ae: ae["code"]["coding"][0].pop("display"), [(f"{AE}.code.coding[0]", "required")]),
    (lambda ae: ae["seriousness"]["coding"][1].update(code="very-serious"),
     [(f"{AE}.seriousness.coding[1].code", "code-invalid")]),
    (lambda ae: ae["outcome"][0]["coding"][0].update(code="better"), [(f"{AE}.outcome[0]", "code-invalid")]),
    (lambda ae: ae.pop("identifier"), [(f"{AE}.identifier", "required")]),
    (lambda ae: ae.pop("subject"), [(f"{AE}.subject", "required")]),
    (lambda ae: ae.pop("suspectEntity"), [(f"{AE}.suspectEntity", "required")]),
    (lambda ae: ae.pop("recorder"), [(f"{AE}.recorder", "required")]),
    # wrong types and values
    (lambda ae: ae.update(occurrenceDateTime=12), [(f"{AE}.occurrenceDateTime", "value")]),
    (lambda ae: ae.update(occurrenceDateTime="2025-13-40"), [(f"{AE}.occurrenceDateTime", "value")]),
    (lambda ae: ae.update(occurrenceDateTime="2025-01"), [(f"{AE}.occurrenceDateTime", "value")]),
    (lambda ae: ae.update(suspectEntity={"instanceReference": {"reference": "#m"}}), [(f"{AE}.suspectEntity", "structure")]),
    (lambda ae: ae.update(status="finished"), [(f"{AE}.status", "code-invalid")]),
    (lambda ae: ae.update(status="entered-in-error"), [(f"{AE}.status", "not-supported")]),
    (lambda ae: ae.update(actuality="potential"), [(f"{AE}.actuality", "not-supported")]),
    (lambda ae: ae["meta"].update(versionId="v2"), [(f"{AE}.meta.versionId", "value")]),
    (lambda ae: ae["meta"].update(versionId="0"), [(f"{AE}.meta.versionId", "value")]),
    # In the future (the latest information date, defaulting to it, too): one issue.
    (lambda ae: ae.update(recordedDate="2027-01-01"), [(f"{AE}.recordedDate", "business-rule")]),
    (lambda ae: ae.update(meta={"versionId": "1", "lastUpdated": "2025-01-20T00:00:00Z"}),
     [(f"{AE}.meta.lastUpdated", "business-rule")]),
    (lambda ae: ae.update(occurrenceDateTime="1960-05-01"), [(f"{AE}.occurrenceDateTime", "business-rule")]),
    (lambda ae: ae["code"]["coding"][0].update(code="x" * 30), [(f"{AE}.code.coding[0]", "value")]),
    (lambda ae: ae["identifier"][0].update(value=" AE-1"), [(f"{AE}.identifier", "value")]),
])
def test_codes_missing_and_wrong_types(client, world, treated, db, change, expected):
    bundle = bundles.r5()
    change(bundles.event(bundle))
    assert _refused(client, world, db, bundle) == expected


def test_a_patient_identifying_nothing(client, world, treated, db):
    # Not registered (no identifier), and neither sex, birth year nor an identifier describes it (E2B's
    # minimum criteria); the Patient's other parts are not read.
    bundle = bundles.r5()
    patient = bundle["entry"][1]["resource"]
    del patient["identifier"]
    patient.update(gender="unknown", name=[{"family": "Zhang"}])
    assert _refused(client, world, db, bundle) == [(f"{AE}.subject", "required")]
    r = post(client, world.clinic, bundle)
    assert "identifiable patient" in r.text and "Zhang" not in r.text


def test_described_patient_bad_values(client, world, treated, db):
    bundle = bundles.r5(local_id="X" * 101)
    bundle["entry"][1]["resource"]["birthDate"] = "1850-01-01"
    r = post(client, world.clinic, bundle)
    assert r.status_code == 422 and issues(r) == [(f"{AE}.subject", "value")], r.text
    assert "XXXX" not in r.text and stored_counts(db) == (0, 0, 0, 0)
    assert "1900" in r.text  # birth year bounds, stated


def test_product_the_patient_was_not_treated_with(client, world, treated, db):
    other = {"system": "urn:example:formulary", "code": "MSC-1", "display": "Testcel"}
    assert _refused(client, world, db, bundles.r5(product=other)) == [
        (f"{AE}.suspectEntity[0].instanceReference.code", "not-found")]


def test_bundle_types_and_counts(client, world, treated, db):
    assert _refused(client, world, db, {**bundles.r5(), "type": "searchset"}) == [("Bundle.type", "not-supported")]
    two = bundles.r5()
    two["entry"].append(copy.deepcopy(two["entry"][0]))
    assert _refused(client, world, db, two) == [("Bundle.entry", "invalid")]
    # a transaction entry that is not a create is refused, not stored as one (it was: a DELETE made a case)
    for method in ("DELETE", "PUT", "PATCH"):
        other = bundles.r5()
        ae = next(i for i, e in enumerate(other["entry"]) if e["resource"]["resourceType"] == "AdverseEvent")
        other["entry"][ae]["request"] = {"method": method, "url": "AdverseEvent?identifier=x"}
        assert _refused(client, world, db, other) == [(f"Bundle.entry[{ae}].request.method", "not-supported")]


@pytest.mark.parametrize("body, content_type, status", [
    (b"{not json", JSON, 400),
    (b"[1, 2]", JSON, 400),
    (b"<Bundle xmlns='http://hl7.org/fhir'><type value='collection'/>", XML, 400),
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><Bundle xmlns='http://hl7.org/fhir'/>", XML, 400),
    (b"<Bundle><type value='collection'/></Bundle>", XML, 422),
    (b"<Bundle xmlns='http://hl7.org/fhir'><type value='collection'/><entry><resource><Foo/></resource></entry></Bundle>",
     XML, 422),
    (b"{}", "text/plain", 415),
])
def test_unreadable_bodies(client, world, treated, db, body, content_type, status):
    r = post(client, world.clinic, body, content_type=content_type)
    assert r.status_code == status, r.text
    assert stored_counts(db) == (0, 0, 0, 0)


@pytest.mark.parametrize("body", [
    b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><Bundle xmlns='http://hl7.org/fhir'>&a;</Bundle>",
    b"\xef\xbb\xbf<!-- c --><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><Bundle xmlns='http://hl7.org/fhir'>"
    b"<type value='&e;'/></Bundle>",
])
def test_a_doctype_is_refused_as_such_even_when_its_entities_are_used(client, world, treated, db, body):
    r = post(client, world.clinic, body, content_type=XML, accept=JSON)
    assert r.status_code == 400, r.text
    assert issues(r) == [("Resource", "security")]
    assert "DOCTYPE" in r.json()["issue"][0]["diagnostics"]
    assert stored_counts(db) == (0, 0, 0, 0)


def test_nul_nan_and_deep_nesting_are_operation_outcomes(client, world, treated, db):
    bundle = bundles.r5()
    bundles.event(bundle)["identifier"][0]["value"] = "AE\u0000CRS"
    r = post(client, world.clinic, bundle)
    assert r.status_code == 422 and r.json()["resourceType"] == "OperationOutcome", r.text
    assert r.json()["issue"][0]["expression"] == ["Resource.entry[0].resource.identifier[0].value"]
    r = post(client, world.clinic, b'{"resourceType": "Bundle", "type": "collection", "total": NaN}')
    assert r.status_code == 422 and r.json()["resourceType"] == "OperationOutcome", r.text
    depth = 900  # deeper than Python's recursion limit, within orjson's
    deep = '{"resourceType": "AdverseEvent", "status": "completed", "extension": ' + \
        '[{"url": "urn:x", "extension": ' * depth + '[]' + '}]' * depth + '}'
    r = post(client, world.clinic, deep, path="/fhir/AdverseEvent")
    assert r.status_code in (400, 422) and r.json()["resourceType"] == "OperationOutcome"
    assert stored_counts(db) == (0, 0, 0, 0)


def test_too_large_is_an_operation_outcome(client, world, treated, db):
    from pv_service.core.settings import get_settings

    r = post(client, world.clinic, b" " * (get_settings().max_body_bytes + 1))
    assert r.status_code == 413 and issues(r) == [(None, "too-costly")]


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/fhir/Patient/1", 404), ("GET", "/fhir/AdverseEvent/1/_history", 404),
    ("GET", "/fhir/AdverseEvent/1/$everything", 404), ("PUT", "/fhir/AdverseEvent/1", 405),
    ("DELETE", "/fhir/AdverseEvent/1", 405), ("PATCH", "/fhir/AdverseEvent/1", 405), ("DELETE", "/fhir/AdverseEvent", 405),
    ("GET", "/fhir", 405),
])
def test_what_no_route_takes_is_an_operation_outcome_too(client, world, method, path, status):
    """Unknown resource types and operations, and methods not supported, answered FastAPI's {"detail": ...}."""
    r = client.request(method, path, headers=world.clinic.headers)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/fhir+json")
    (issue,) = r.json()["issue"]
    assert r.json()["resourceType"] == "OperationOutcome" and issue["code"] == "not-supported"
    assert "/fhir/metadata" in issue["diagnostics"]
    xml = client.request(method, path, headers=world.clinic.headers | {"Accept": "application/fhir+xml"})
    assert xml.status_code == status and xml.headers["content-type"].startswith("application/fhir+xml")
    assert b"OperationOutcome" in xml.content


def test_outside_fhir_an_unknown_route_is_still_json(client, world):
    r = client.get("/v1/nothing-here", headers=world.clinic.headers)
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


def test_a_modifier_extension_is_refused_not_ignored(client, world, treated, db):
    """FHIR (Extensibility): a modifierExtension may negate what it sits on, so a system that does not know it
    SHALL NOT process the resource. It was stored as if absent."""
    bundle = bundles.r5()
    bundles.event(bundle)["modifierExtension"] = [{"url": "http://example.org/not-really", "valueBoolean": True}]
    assert _refused(client, world, db, bundle) == [("Bundle.entry[0].resource.modifierExtension", "not-supported")]
    patient = bundles.r5()
    patient["entry"][1]["resource"]["modifierExtension"] = [{"url": "http://example.org/x", "valueBoolean": True}]
    assert _refused(client, world, db, patient) == [("Bundle.entry[1].resource.modifierExtension", "not-supported")]


def test_date_messages_say_what_is_wrong(client, world, treated, db):
    """A dateTime with a time but no timezone is named as such (it was "does not match spec regex"), a
    future recordedDate says so once (it is day 0 and the latest information: it said it twice), and a
    leap second is a time of its day, not "a year or month"."""
    bundle = bundles.r5()
    bundles.event(bundle).update(occurrenceDateTime="2025-01-12T10:00:00")
    r = post(client, world.clinic, bundle)
    (issue,) = r.json()["issue"]
    assert r.status_code == 422 and issue["diagnostics"].startswith("is not a FHIR dateTime: YYYY, YYYY-MM")
    assert "with a timezone" in issue["diagnostics"]
    bundle = bundles.r5()
    bundles.event(bundle).update(recordedDate="2027-01-01")
    (issue,) = post(client, world.clinic, bundle).json()["issue"]
    assert issue["diagnostics"] == "is in the future"
    bundle = bundles.r5()
    bundles.event(bundle).update(occurrenceDateTime="2016-12-31T23:59:60Z", recordedDate="2017-01-02")
    r = post(client, world.clinic, bundle)
    assert r.status_code == 201, r.text
    case = client.get(f"/v1/reports/{case_id(r)}", headers=world.clinic.headers).json()
    assert case["latest"]["reactions"][0]["onset_date"] == "2016-12-31"


def test_an_unknown_xml_element_is_named_by_path_and_line(client, world, treated, db):
    """fhir.resources' XML reader fails on an element it does not know with a KeyError of its name: the
    answer named "KeyError: 'bogus'"; it names the element's path and line."""
    from fhir.resources.bundle import Bundle

    xml = Bundle.model_validate(bundles.r5()).model_dump_xml()
    xml = xml if isinstance(xml, str) else xml.decode()
    at = xml.index('<status value="completed"/>')
    bad = xml[:at] + '<status value="completed"/>\n<bogusElement value="x"/>' + xml[at + len('<status value="completed"/>'):]
    r = post(client, world.clinic, bad, content_type=XML, accept=JSON)
    assert r.status_code == 422, r.text
    (issue,) = r.json()["issue"]
    line = bad[:bad.index("<bogusElement")].count("\n") + 1
    assert issue["expression"] == ["Bundle.entry[0].resource.bogusElement"]
    assert issue["diagnostics"] == f"is not an element of this resource in this FHIR version (line {line})"
    assert stored_counts(db) == (0, 0, 0, 0)
