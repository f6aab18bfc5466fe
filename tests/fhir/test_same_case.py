"""The same case sent as JSON, as E2B(R3) and as FHIR gives the same stored case, for the fields the
three formats share (dates, reporter, seriousness, narrative, the coded reaction, the suspect product)."""
from __future__ import annotations

from tests.api.conftest import report_payload
from tests.e2b.test_import import post as post_e2b
from tests.fhir import bundles
from tests.fhir.helpers import case_id, post

NARRATIVE = bundles.CASES["crs"]["note"]


def shared_fields(v: dict) -> dict:
    return {
        "dates": (v["received_date"], v["latest_info_date"]),
        "reporter": (v["reporter_qualification"], v["reporter_country"]),
        "serious": v["serious"], "narrative": v["narrative"],
        "reactions": [(r["meddra_version"], r["llt_code"], r["pt_code"], r["pt_name"], r["soc_code"], r["onset_date"],
                       r["seriousness"], r["outcome"]) for r in v["reactions"]],
        "drugs": [(d["role"], d["product_id"]) for d in v["drugs"]],
    }


def test_json_e2b_and_fhir_give_the_same_stored_case(client, world, treated, coded, schema_settings):
    patient, treatment = treated
    payload = report_payload(patient["id"], treatment["id"], case_id="CASE-JSON", narrative=NARRATIVE, reactions=[{
        "meddra_version": "90.0", "llt_code": "90000402", "onset_date": "2025-01-12",
        "seriousness": {"hospitalisation": True}, "outcome": "recovered"}])
    r = client.post("/v1/reports", json=payload, headers=world.clinic.headers)
    assert r.status_code == 201, r.text
    as_json = r.json()["latest"]
    # E2B: the JSON case exported, then imported by another sender (its own case, patient described).
    xml = client.get(f"/v1/reports/{r.json()['id']}/e2b", headers=world.clinic.headers)
    assert xml.status_code == 200, xml.text
    m = post_e2b(client, world.other_clinic, xml.content, json=True).json()["messages"][0]
    assert m["acknowledgement"] == "CA", m
    as_e2b = client.get(f"/v1/reports/{m['case_id']}", headers=world.other_clinic.headers).json()["latest"]
    # FHIR: the clinic's EHR sends the same event as an R5 Bundle.
    f = post(client, world.clinic, bundles.r5("crs"))
    assert f.status_code == 201, f.text
    as_fhir = client.get(f"/v1/reports/{case_id(f)}", headers=world.clinic.headers).json()["latest"]
    assert [v["source_format"] for v in (as_json, as_e2b, as_fhir)] == ["json", "e2b", "fhir"]
    expected = {
        "dates": ("2025-02-01", "2025-02-01"), "reporter": ("physician", "CN"), "serious": True,
        "narrative": NARRATIVE,
        "reactions": [("90.0", "90000402", "90000302", "Cytokine release syndrome", "90000003", "2025-01-12",
                       {"death": False, "life_threatening": False, "hospitalisation": True, "disability": False,
                        "congenital_anomaly": False, "other_medically_important": False}, "recovered")],
        "drugs": [("suspect", treatment["product_id"])],
    }
    assert shared_fields(as_json) == shared_fields(as_e2b) == shared_fields(as_fhir) == expected
    # JSON and FHIR both name the registered patient and its treatment; E2B describes the patient.
    assert as_json["patient_id"] == as_fhir["patient_id"] == patient["id"] and as_e2b["patient_id"] is None
    assert as_json["drugs"][0]["treatment_id"] == as_fhir["drugs"][0]["treatment_id"] == treatment["id"]
    # Every one reads back as an AdverseEvent; the E2B case's patient is described, not registered.
    from fhir.resources.adverseevent import AdverseEvent

    back = AdverseEvent.model_validate(client.get(f"/fhir/AdverseEvent/{m['case_id']}",
                                                  headers=world.other_clinic.headers).json())
    assert back.subject.identifier is None and back.code.coding[0].code == "90000402"
    assert back.contained[0].code.coding[0].code == "CART-1" and back.contained[0].batch.lotNumber == "LOT-1"
