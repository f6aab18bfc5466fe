"""Hand-built CAR-T bundles (R5 and R4, JSON and XML) import, are stored field by field, version
and read back; on both databases."""
from __future__ import annotations

import json

import pytest
from fhir.resources.adverseevent import AdverseEvent
from fhir.resources.bundle import Bundle
from fhir.resources.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.adverseevent import AdverseEvent as AdverseEventR4B
from fhir.resources.R4B.bundle import Bundle as BundleR4B
from fhir.resources.R4B.capabilitystatement import CapabilityStatement as CapabilityStatementR4B

from tests.fhir import bundles
from tests.fhir.helpers import JSON, XML, case_id, issues, post, stored_counts


def stored(client, actor, response):
    assert response.status_code in (200, 201), response.text
    case_id = int(response.headers["Location"].split("/")[3])
    r = client.get(f"/v1/reports/{case_id}", headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_metadata_is_a_valid_capability_statement(client):
    r = client.get("/fhir/metadata")
    assert r.status_code == 200 and r.headers["content-type"] == "application/fhir+json; fhirVersion=5.0"
    cs = CapabilityStatement.model_validate(r.json())
    assert cs.fhirVersion == "5.0.0" and cs.rest[0].resource[0].type == "AdverseEvent"
    assert [i.code for i in cs.rest[0].resource[0].interaction] == ["create", "read", "vread"]
    assert cs.rest[0].interaction[0].code == "transaction"
    r4 = client.get("/fhir/metadata", headers={"Accept": "application/fhir+json; fhirVersion=4.0"})
    assert CapabilityStatementR4B.model_validate(r4.json()).fhirVersion == "4.3.0"
    xml = client.get("/fhir/metadata", headers={"Accept": XML})
    assert xml.headers["content-type"].startswith(XML)
    assert CapabilityStatement.model_validate_xml(xml.content).fhirVersion == "5.0.0"


def test_r5_crs_bundle_is_stored_field_by_field(client, world, treated, db):
    patient, treatment = treated
    r = post(client, world.clinic, bundles.r5("crs"))
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith("/_history/1") and r.headers["ETag"] == 'W/"1"'
    case = stored(client, world.clinic, r)
    assert (case["sender_case_id"], case["patient_id"], case["first_received"], case["versions"]) == (
        "AE-CRS", patient["id"], "2025-02-01", [0])
    v = case["latest"]
    assert (v["source_format"], v["report_type"], v["received_date"], v["latest_info_date"]) == (
        "fhir", "spontaneous", "2025-02-01", "2025-02-01")
    assert (v["reporter_qualification"], v["reporter_country"], v["serious"]) == ("physician", "CN", True)
    assert v["narrative"] == "CRS grade 2 on day 2 after infusion, resolved with tocilizumab."
    (drug,) = v["drugs"]
    assert (drug["treatment_id"], drug["product_id"], drug["role"], drug["batch_lot"]) == (
        treatment["id"], treatment["product_id"], "suspect", "LOT-1")
    assert drug["detail"]["fhir_product"] == [bundles.PRODUCT]
    assert drug["detail"]["relatedness"][0]["assessment"] == [{"system": bundles.CAUS, "code": "Probably-Likely"}]
    (reaction,) = v["reactions"]
    # No dictionary loaded: the MedDRA coding is kept as sent (the code as PT code, the display as its name).
    assert (reaction["meddra_version"], reaction["pt_code"], reaction["pt_name"], reaction["onset_date"]) == (
        "90.0", "90000402", "CRS", "2025-01-12")
    assert reaction["seriousness"] == {"death": False, "life_threatening": False, "hospitalisation": True,
                                       "disability": False, "congenital_anomaly": False,
                                       "other_medically_important": False}
    assert (reaction["outcome"], reaction["causality"]) == ("recovered", "probably_related")
    fhir = v["detail"]["fhir"]
    assert (fhir["version"], fhir["identifier_system"], fhir["status"]) == ("R5", "urn:example:clinic-a:ae", "completed")
    assert fhir["event_codings"] == [{"system": bundles.EHR, "code": "PL-77", "display": "CRS grade 2 after CAR-T"}]
    assert stored_counts(db) == (1, 1, 1, 1)


def test_r4_tcell_lymphoma_follow_up_is_stored_and_versioned(client, world, treated):
    patient, treatment = treated
    first = post(client, world.clinic, bundles.r4("tcl"))
    assert first.status_code == 201, first.text
    v = stored(client, world.clinic, first)["latest"]
    (reaction,) = v["reactions"]
    assert (reaction["pt_code"], reaction["pt_name"], reaction["onset_date"], reaction["outcome"],
            reaction["causality"]) == ("90000301", "T-cell lymphoma", "2026-07-10", "not_recovered", "possibly_related")
    # SeriousRequiresPreventImpairment is E2B's "other medically important condition".
    assert [k for k, on in reaction["seriousness"].items() if on] == ["other_medically_important"]
    assert v["detail"]["fhir"]["severity"] == [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity",
                                                "code": "moderate"}]
    assert v["drugs"][0]["treatment_id"] == treatment["id"] and v["narrative"] is None
    # The same resource again: unchanged (200), nothing new stored.
    again = post(client, world.clinic, bundles.r4("tcl"))
    assert again.status_code == 200 and again.headers["Location"] == first.headers["Location"]
    # Other content under the same version: a conflict naming meta.versionId.
    other = bundles.r4("tcl")
    bundles.event(other)["outcome"]["coding"][0]["code"] = "fatal"
    conflict = post(client, world.clinic, other)
    assert conflict.status_code == 409 and issues(conflict) == [("Bundle.entry[0].resource.meta.versionId", "conflict")]
    # A later version is the case's follow-up.
    follow = bundles.r4("tcl", version_id="2")
    bundles.event(follow)["meta"]["lastUpdated"] = "2026-08-02T09:30:00+08:00"
    bundles.event(follow)["outcome"]["coding"][0]["code"] = "fatal"
    bundles.event(follow)["seriousness"]["coding"][0]["code"] = "SeriousResultsInDeath"
    r = post(client, world.clinic, follow)
    assert r.status_code == 201 and r.headers["Location"].endswith("/_history/2"), r.text
    case = stored(client, world.clinic, r)
    assert case["versions"] == [0, 1] and case["first_received"] == "2026-07-20"
    latest = case["latest"]
    assert (latest["version"], latest["latest_info_date"], latest["reactions"][0]["outcome"]) == (1, "2026-08-02", "fatal")
    assert latest["reactions"][0]["seriousness"]["death"] is True
    # Each version reads back as FHIR (vread), and the latest by id.
    cid = case["id"]
    one = client.get(f"/fhir/AdverseEvent/{cid}/_history/1", headers=world.clinic.headers)
    two = client.get(f"/fhir/AdverseEvent/{cid}", headers=world.clinic.headers)
    assert [AdverseEvent.model_validate(x.json()).outcome[0].coding[0].code for x in (one, two)] == ["ongoing", "fatal"]
    assert (one.json()["meta"]["versionId"], two.json()["meta"]["versionId"]) == ("1", "2")
    missing = client.get(f"/fhir/AdverseEvent/{cid}/_history/3", headers=world.clinic.headers)
    assert missing.status_code == 404  # in FHIR's numbers (from 1), as every version message below
    assert missing.json()["issue"][0]["diagnostics"] == f"AdverseEvent {cid} has no version 3"
    # A version gap is refused, naming meta.versionId.
    gap = post(client, world.clinic, bundles.r4("tcl", version_id="4"))
    assert gap.status_code == 422 and issues(gap) == [("Bundle.entry[0].resource.meta.versionId", "business-rule")]
    assert gap.json()["issue"][0]["diagnostics"] == ("version gap: the latest version received is 2, so "
                                                     "meta.versionId is 3, not 4")
    first_gap = post(client, world.clinic, bundles.r5("crs", version_id="2"))  # a new case
    assert first_gap.status_code == 422 and first_gap.json()["issue"][0]["diagnostics"] == (
        "version gap: this AdverseEvent has no version yet, so meta.versionId starts at 1, not 2")
    changed = bundles.r4("tcl", version_id="2")
    bundles.event(changed)["outcome"]["coding"][0]["code"] = "resolved"
    conflict = post(client, world.clinic, changed)
    assert conflict.status_code == 409
    assert conflict.json()["issue"][0]["diagnostics"] == ("version 2 (meta.versionId) of this AdverseEvent was "
                                                          "already received with different content")


def test_read_back_r5_and_r4b(client, world, treated):
    r = post(client, world.clinic, bundles.r5("crs"))
    cid = case_id(r)
    ae = AdverseEvent.model_validate(client.get(f"/fhir/AdverseEvent/{cid}", headers=world.clinic.headers).json())
    assert ae.identifier[0].value == "AE-CRS" and str(ae.occurrenceDateTime) == "2025-01-12"
    assert ae.code.coding[0].system == bundles.MDR and ae.code.coding[0].code == "90000402"
    assert ae.subject.identifier.value == str(treated[0]["id"])
    (med,) = ae.contained
    assert (med.code.coding[0].code, med.batch.lotNumber) == ("CART-1", "LOT-1")
    assert ae.suspectEntity[0].instanceReference.reference == "#drug0"
    assert ae.suspectEntity[0].causality.entityRelatedness.coding[0].code == "Probably-Likely"
    r4 = client.get(f"/fhir/AdverseEvent/{cid}", headers={**world.clinic.headers,
                                                           "Accept": "application/fhir+json; fhirVersion=4.3"})
    assert r4.headers["content-type"] == "application/fhir+json; fhirVersion=4.3"
    old = AdverseEventR4B.model_validate(r4.json())
    assert old.event.coding[0].code == "90000402" and old.outcome.coding[0].code == "resolved"
    assert old.suspectEntity[0].causality[0].assessment.coding[0].code == "Probably-Likely"
    xml = client.get(f"/fhir/AdverseEvent/{cid}", headers={**world.clinic.headers, "Accept": XML})
    assert AdverseEvent.model_validate_xml(xml.content).identifier[0].value == "AE-CRS"


def test_xml_bundle_is_the_same_report_as_json(client, world, treated):
    bundle = bundles.r5("crs")
    xml = Bundle.model_validate(bundle).model_dump_xml()
    r = post(client, world.clinic, xml, content_type=XML)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith(XML)
    answer = Bundle.model_validate_xml(r.content)  # the transaction's answer, as XML too
    assert answer.type == "transaction-response" and answer.entry[0].resource.identifier[0].value == "AE-CRS"
    again = post(client, world.clinic, bundle)
    assert again.status_code == 200, again.text  # the JSON of the same bundle: unchanged


def test_r4_xml_is_read_with_r4b_models(client, world, treated):
    xml = BundleR4B.model_validate(bundles.r4("tcl")).model_dump_xml()
    r = post(client, world.clinic, xml, content_type=XML)
    assert r.status_code == 201, r.text
    v = stored(client, world.clinic, r)["latest"]
    assert v["detail"]["fhir"]["version"] == "R4B" and v["reactions"][0]["pt_code"] == "90000301"


def test_single_adverse_event_with_contained_resources(client, world, treated):
    bundle = bundles.r5("crs")
    ae = bundles.event(bundle)
    patient, med, doctor = (e["resource"] for e in bundle["entry"][1:])
    ae["contained"] = [patient, med, doctor]
    ae["subject"] = {"reference": "#p1"}
    ae["suspectEntity"][0]["instanceReference"] = {"reference": "#m1"}
    ae["recorder"] = {"reference": "#d1"}
    r = post(client, world.clinic, ae, path="/fhir/AdverseEvent")
    assert r.status_code == 201, r.text
    assert stored(client, world.clinic, r)["latest"]["drugs"][0]["batch_lot"] == "LOT-1"


def test_version_hint_in_content_type(client, world, treated):
    r = post(client, world.clinic, bundles.r4("crs"), content_type=f"{JSON}; fhirVersion=4.0")
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/fhir+json; fhirVersion=4.3"
    AdverseEventR4B.model_validate(r.json())


@pytest.mark.parametrize("sent,accept,model", [
    ("r4", f"{XML}; fhirVersion=5.0", "r5"), ("r5", f"{XML}; fhirVersion=4.3", "r4"),
    ("r4", f"{JSON}; fhirVersion=5.0", "r5"), ("r5", f"{JSON}; fhirVersion=4.0", "r4"),
])
def test_the_answer_is_in_the_version_accepted_not_the_one_sent(client, world, treated, sent, accept, model):
    """Sent in one version, answered in the one Accept names: the created resource used to be rendered in the
    version sent and checked as the one accepted (a 500 after the case was stored, on every resend too)."""
    bundle = bundles.r4("crs") if sent == "r4" else bundles.r5("crs")
    hint = f"{JSON}; fhirVersion=4.0" if sent == "r4" else JSON
    for status in (201, 200):
        r = post(client, world.clinic, bundle, content_type=hint, accept=accept)
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith(accept.split(";")[0])
        # a transaction's answer is a transaction-response Bundle (the R5 one here), a collection's the event
        cls = (Bundle if model == "r5" else BundleR4B) if sent == "r5" else \
            (AdverseEvent if model == "r5" else AdverseEventR4B)
        answer = cls.model_validate_xml(r.content) if accept.startswith(XML) else cls.model_validate(r.json())
        ae = answer.entry[0].resource if sent == "r5" else answer
        assert ae.get_resource_type() == "AdverseEvent" and ae.identifier
        assert type(ae).__module__.startswith("fhir.resources.R4B" if model == "r4" else "fhir.resources.adverseevent")


def test_without_recorded_date_day_0_is_the_first_receipt_here(client, world, treated):
    bundle = bundles.r5("crs")
    del bundles.event(bundle)["recordedDate"]
    r = post(client, world.clinic, bundle)
    case = stored(client, world.clinic, r)
    assert case["first_received"] == "2026-11-23"  # the test clock's day
    assert case["latest"]["detail"]["fhir"]["received_date_from"] == "first receipt by this service"
    assert post(client, world.clinic, bundle).status_code == 200


def test_coded_intake_derives_the_pt_and_refuses_a_wrong_code(client, world, treated, coded):
    r = post(client, world.clinic, bundles.r5("crs"))
    assert r.status_code == 201, r.text
    (reaction,) = stored(client, world.clinic, r)["latest"]["reactions"]
    assert (reaction["llt_code"], reaction["llt_name"], reaction["pt_code"], reaction["pt_name"],
            reaction["soc_code"]) == ("90000402", "CRS", "90000302", "Cytokine release syndrome", "90000003")
    wrong = bundles.r5("tcl")
    bundles.event(wrong)["code"]["coding"][0]["code"] = "90009999"
    bad = post(client, world.clinic, wrong)
    assert bad.status_code == 422 and issues(bad) == [("Bundle.entry[0].resource.code.coding[0]", "code-invalid")]
    assert "90009999 is not an LLT in MedDRA 90.0" in bad.text
    unversioned = bundles.r5("tcl", meddra_version=None)
    bad = post(client, world.clinic, unversioned)
    assert bad.status_code == 422 and "required" in bad.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("lot, status", [(None, 201), ("lot-1", 201), ("LOT-9", 422)])
def test_suspect_matched_to_the_treatment_by_product_and_lot(client, world, treated, lot, status):
    r = post(client, world.clinic, bundles.r5("crs", lot=lot))
    assert r.status_code == status, r.text
    if status == 422:
        assert issues(r) == [("Bundle.entry[0].resource.suspectEntity[0]", "business-rule")]


def test_product_matched_by_trade_name_or_inn(client, world, treated):
    by_inn = {"system": "urn:example:other-formulary", "code": "X-77", "display": "Testcabtagene Autoleucel"}
    r = post(client, world.clinic, bundles.r5("crs", product=by_inn))
    assert r.status_code == 201, r.text


def test_warnings_are_returned_beside_the_stored_resource(client, world, treated):
    early = bundles.r5("crs")
    bundles.event(early)["occurrenceDateTime"] = "2025-01-05"  # before the infusion of 2025-01-10
    r = post(client, world.clinic, early)
    assert r.status_code == 201, r.text
    warned = json.loads(r.headers["X-Warnings"])
    assert [(i["severity"], i["expression"]) for i in warned["issue"]] == [
        ("warning", ["Bundle.entry[0].resource.occurrenceDateTime"])]


EXPECTED = {  # per case of tests/fhir/bundles.py: PT code, onset, outcome, seriousness criterion, causality
    "crs": ("90000402", "2025-01-12", "recovered", "hospitalisation", "probably_related"),
    "tcl": ("90000301", "2026-07-10", "not_recovered", "other_medically_important", "possibly_related"),
}


@pytest.mark.parametrize("version", ["r5", "r4"])
@pytest.mark.parametrize("kind", ["crs", "tcl"])
def test_each_cart_case_in_each_version(client, world, treated, version, kind):
    bundle = getattr(bundles, version)(kind)
    r = post(client, world.clinic, bundle)
    assert r.status_code == 201, r.text
    v = stored(client, world.clinic, r)["latest"]
    (reaction,) = v["reactions"]
    got = (reaction["pt_code"], reaction["onset_date"], reaction["outcome"],
           next(k for k, on in reaction["seriousness"].items() if on), reaction["causality"])
    assert got == EXPECTED[kind]
    assert (v["received_date"], v["drugs"][0]["batch_lot"], v["reporter_qualification"]) == (
        bundles.CASES[kind]["recorded"], "LOT-1", "physician")
    model = AdverseEvent if version == "r5" else AdverseEventR4B
    accept = JSON if version == "r5" else f"{JSON}; fhirVersion=4.0"
    back = client.get(f"/fhir/AdverseEvent/{v['case_id']}", headers={**world.clinic.headers, "Accept": accept})
    ae = model.model_validate(back.json())
    code = ae.code if version == "r5" else ae.event
    assert [c.code for c in code.coding] == [bundles.CASES[kind]["llt"][0], bundles.CASES[kind]["local"][0]]


def test_concurrent_identical_resends_are_answered_as_if_sent_alone(app, db, world, treated):
    """An EHR resending the same Bundle on several connections at once: one 201, the others 200 (the
    same content, unchanged), one version stored. They answered 409 "send it again", which an EHR reads
    as a permanent conflict."""
    import threading

    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    bundle = json.dumps(bundles.r5("crs")).encode()
    barrier, statuses = threading.Barrier(6), []

    def send():
        with TestClient(app) as c:
            barrier.wait()
            statuses.append(c.post("/fhir", content=bundle,
                                   headers={**world.clinic.headers, "Content-Type": JSON}).status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(statuses) == [200, 200, 200, 200, 200, 201], statuses
    with db.connect() as conn:
        assert conn.execute(sa.text("select count(*) from case_version")).scalar() == 1


def test_format_parameter_overrides_accept(client, world, treated):
    """FHIR's _format, for clients that cannot set headers: it wins over Accept."""
    r = post(client, world.clinic, bundles.r5("crs"))
    cid = case_id(r)
    for fmt in ("xml", "application/fhir+xml"):
        xml = client.get(f"/fhir/AdverseEvent/{cid}", params={"_format": fmt},
                         headers={**world.clinic.headers, "Accept": JSON})
        assert xml.headers["content-type"].startswith(XML)
        assert AdverseEvent.model_validate_xml(xml.content).identifier[0].value == "AE-CRS"
    as_json = client.get(f"/fhir/AdverseEvent/{cid}?_format=json", headers={**world.clinic.headers, "Accept": XML})
    assert as_json.headers["content-type"].startswith(JSON) and as_json.json()["resourceType"] == "AdverseEvent"
    assert client.get("/fhir/metadata?_format=xml").headers["content-type"].startswith(XML)


def test_seriousness_is_rendered_in_each_versions_codes(client, world, treated):
    """adverse-event-seriousness: R4 (4.0.1) has Serious/Non-serious and the criteria, case-sensitive;
    its current version (R5's) only serious/non-serious, so R5 names a criterion with version 4.0.1.
    The disability criterion is SeriousResultsInDisability (this service wrote a code that is none)."""
    bundle = bundles.r5("crs")
    bundles.event(bundle)["seriousness"]["coding"][1]["code"] = "SeriousResultsInDisability"
    cid = case_id(post(client, world.clinic, bundle))
    sys = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
    r5 = client.get(f"/fhir/AdverseEvent/{cid}", headers=world.clinic.headers).json()
    assert r5["seriousness"]["coding"] == [{"system": sys, "code": "serious"},
                                           {"system": sys, "version": "4.0.1", "code": "SeriousResultsInDisability"}]
    r4 = client.get(f"/fhir/AdverseEvent/{cid}", headers={**world.clinic.headers, "Accept": f"{JSON}; fhirVersion=4.3"})
    assert r4.json()["seriousness"]["coding"] == [{"system": sys, "code": "Serious"},
                                                  {"system": sys, "code": "SeriousResultsInDisability"}]
    AdverseEventR4B.model_validate(r4.json())
    # read back by this service, either rendering is the same case
    for rendered in (r5, r4.json()):
        assert mapping_flags(rendered["seriousness"]) == {"disability": True}


def mapping_flags(seriousness: dict) -> dict:
    from pv_service.fhir import mapping
    from pv_service.fhir.event import Coding, Concept

    issues = []
    flags = mapping._seriousness(Concept("X", [Coding(c.get("system"), c.get("version"), c["code"], None)
                                               for c in seriousness["coding"]], None), issues)
    assert issues == []
    return flags


def test_a_conditional_create_by_identifier_is_honoured(client, world, treated, db):
    """request.ifNoneExist `identifier=system|value` on the AdverseEvent's entry: when the sender has that
    case, nothing is stored and the answer names it (200); it used to be ignored, so a changed resend was
    a conflict. Another search is refused rather than ignored."""
    bundle = bundles.r5("crs")
    bundle["entry"][0]["request"]["ifNoneExist"] = "identifier=urn:example:clinic-a:ae|AE-CRS"
    first = post(client, world.clinic, bundle)
    assert first.status_code == 201, first.text
    counts = stored_counts(db)
    changed = bundles.r5("crs")
    changed["entry"][0]["request"]["ifNoneExist"] = "identifier=urn:example:clinic-a:ae|AE-CRS"
    bundles.event(changed)["note"] = [{"text": "a different narrative"}]
    again = post(client, world.clinic, changed)
    assert again.status_code == 200, again.text
    assert again.json()["entry"][0]["response"]["location"] == first.json()["entry"][0]["response"]["location"]
    assert stored_counts(db) == counts
    del changed["entry"][0]["request"]["ifNoneExist"]
    assert post(client, world.clinic, changed).status_code == 409  # as sent plainly: different content
    other = bundles.r5("tcl")
    other["entry"][0]["request"]["ifNoneExist"] = "identifier=AE-TCL"  # no match: created
    assert post(client, world.clinic, other).status_code == 201
    odd = bundles.r5("crs")
    odd["entry"][0]["request"]["ifNoneExist"] = "patient=Patient/1"
    r = post(client, world.clinic, odd)
    assert r.status_code == 422 and issues(r) == [("Bundle.entry[0].request.ifNoneExist", "not-supported")]


def test_prefer_return(client, world, treated):
    """FHIR's Prefer: return=minimal answers a create with no body (Location and ETag say what was stored),
    and a transaction's entries without the resource; return=OperationOutcome answers an outcome."""
    ae = bundles.event(bundles.r5("crs"))
    bundle = bundles.r5("crs")
    ae["contained"] = [e["resource"] for e in bundle["entry"][1:]]
    ae["subject"], ae["recorder"] = {"reference": "#p1"}, {"reference": "#d1"}
    ae["suspectEntity"][0]["instanceReference"] = {"reference": "#m1"}
    h = {**world.clinic.headers, "Content-Type": JSON}
    r = client.post("/fhir/AdverseEvent", content=json.dumps(ae), headers={**h, "Prefer": "return=minimal"})
    assert r.status_code == 201 and r.content == b"" and r.headers["Location"].startswith("/fhir/AdverseEvent/")
    r = client.post("/fhir/AdverseEvent", content=json.dumps(ae), headers={**h, "Prefer": "return=OperationOutcome"})
    assert r.status_code == 200 and r.json()["resourceType"] == "OperationOutcome"
    assert "already stored with this content" in r.json()["issue"][0]["diagnostics"]
    tx = bundles.r5("tcl")
    r = client.post("/fhir", content=json.dumps(tx), headers={**h, "Prefer": 'return="minimal"'})
    assert r.status_code == 201 and r.json()["type"] == "transaction-response"
    assert "resource" not in r.json()["entry"][0] and r.json()["entry"][0]["response"]["location"]
    r = client.post("/fhir", content=json.dumps(tx), headers={**h, "Prefer": "respond-async, return=representation"})
    assert r.status_code == 200 and r.json()["entry"][0]["resource"]["resourceType"] == "AdverseEvent"
