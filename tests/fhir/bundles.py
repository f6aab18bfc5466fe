"""Hand-built FHIR Bundles of CAR-T cases, as a clinic's EHR would send them (R5 and R4 shapes).

Case AE-CRS: cytokine release syndrome two days after the infusion of CART-1 (lot LOT-1), grade 2,
hospitalised, resolved, probably related. Case AE-TCL: a T-cell lymphoma found at the month-18
follow-up visit, ongoing. MedDRA codes are those of the made-up test dictionary
(tests/meddra/dictionaries.py, version 90.0; not MedDRA).
"""
from __future__ import annotations

import copy

MDR = "http://terminology.hl7.org/CodeSystem/mdr"
SER = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
OUT = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
CAUS = "http://terminology.hl7.org/CodeSystem/adverse-event-causality-assess"
EHR = "urn:example:clinic-a:problem-list"  # the clinic's own problem-list coding, kept beside MedDRA
CASES = {
    "crs": {"id": "AE-CRS", "llt": ("90000402", "CRS"), "local": ("PL-77", "CRS grade 2 after CAR-T"),
            "onset": "2025-01-12", "recorded": "2025-02-01", "criterion": "SeriousResultsInHospitalization",
            "outcome": "resolved", "causality": "Probably-Likely",
            "note": "CRS grade 2 on day 2 after infusion, resolved with tocilizumab."},
    "tcl": {"id": "AE-TCL", "llt": ("90000301", "T-cell lymphoma"), "local": ("PL-91", "T-cell lymphoma"),
            "onset": "2026-07-10", "recorded": "2026-07-20", "criterion": "SeriousRequiresPreventImpairment",
            "outcome": "ongoing", "causality": "Possible",
            "note": "T-cell lymphoma found at the month-18 visit; CAR transgene testing pending."},
}


def _shared(case: dict, local_id: str, lot: str | None, product: dict) -> list[dict]:
    med = {"resourceType": "Medication", "id": "m1", "code": {"coding": [product]}}
    if lot:
        med["batch"] = {"lotNumber": lot}
    return [
        {"fullUrl": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000001", "resource": {
            "resourceType": "Patient", "id": "p1", "identifier": [{"system": "urn:example:clinic-a:mrn", "value": local_id}],
            "gender": "female"}},
        {"fullUrl": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000002", "resource": med},
        {"fullUrl": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000003", "resource": {
            "resourceType": "Practitioner", "id": "d1", "qualification": [{"code": {"coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v2-0360", "code": "MD"}]}}],
            "address": [{"country": "CN"}]}},
    ]


def _code(case: dict, meddra_version: str | None) -> dict:
    mdr = {"system": MDR, "code": case["llt"][0], "display": case["llt"][1]}
    if meddra_version:
        mdr["version"] = meddra_version
    return {"coding": [mdr, {"system": EHR, "code": case["local"][0], "display": case["local"][1]}],
            "text": case["local"][1]}


PRODUCT = {"system": "urn:example:clinic-a:formulary", "code": "CART-1", "display": "Testkymr"}


def r5(kind: str = "crs", local_id: str = "P-001", version_id: str | None = "1", meddra_version: str | None = "90.0",
       lot: str | None = "LOT-1", bundle_type: str = "transaction", product: dict = PRODUCT) -> dict:
    case = CASES[kind]
    ae = {
        "resourceType": "AdverseEvent", "identifier": [{"system": "urn:example:clinic-a:ae", "value": case["id"]}],
        "status": "completed", "actuality": "actual", "code": _code(case, meddra_version),
        "subject": {"reference": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000001"},
        "occurrenceDateTime": case["onset"], "recordedDate": case["recorded"],
        "seriousness": {"coding": [{"system": SER, "code": "serious"}, {"system": SER, "code": case["criterion"]}]},
        "outcome": [{"coding": [{"system": OUT, "code": case["outcome"]}]}],
        "recorder": {"reference": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000003"},
        "suspectEntity": [{"instanceReference": {"reference": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000002"},
                           "causality": {"entityRelatedness": {"coding": [{"system": CAUS, "code": case["causality"]}]}}}],
        "note": [{"text": case["note"]}],
    }
    if version_id:
        ae["meta"] = {"versionId": version_id}
    entries = [{"fullUrl": "urn:uuid:7f1c0e4e-0001-4000-8000-0000000000ae", "resource": ae},
               *_shared(case, local_id, lot, product)]
    if bundle_type == "transaction":
        for e in entries:
            e["request"] = {"method": "POST", "url": e["resource"]["resourceType"]}
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


def r4(kind: str = "crs", local_id: str = "P-001", version_id: str | None = "1", meddra_version: str | None = "90.0",
       lot: str | None = "LOT-1", bundle_type: str = "collection", product: dict = PRODUCT) -> dict:
    case = CASES[kind]
    ae = {
        "resourceType": "AdverseEvent", "identifier": {"system": "urn:example:clinic-a:ae", "value": case["id"]},
        "actuality": "actual", "event": _code(case, meddra_version),
        "subject": {"reference": "Patient/p1"}, "date": case["onset"], "recordedDate": case["recorded"],
        "seriousness": {"coding": [{"system": SER, "code": case["criterion"]}]},
        "severity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity",
                                 "code": "moderate"}]},
        "outcome": {"coding": [{"system": OUT, "code": case["outcome"]}]},
        "recorder": {"reference": "Practitioner/d1"},
        "suspectEntity": [{"instance": {"reference": "Medication/m1"},
                           "causality": [{"assessment": {"coding": [{"system": CAUS, "code": case["causality"]}]}}]}],
    }
    if version_id:
        ae["meta"] = {"versionId": version_id}
    entries = [{"fullUrl": "urn:uuid:7f1c0e4e-0001-4000-8000-0000000000ae", "resource": ae},
               *_shared(case, local_id, lot, product)]
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


def event(bundle: dict) -> dict:
    return bundle["entry"][0]["resource"]


def changed(bundle: dict, **ae_fields) -> dict:
    out = copy.deepcopy(bundle)
    event(out).update(ae_fields)
    return out


# A patient the clinic has not registered (a referral, a patient treated elsewhere): the Patient describes
# it (MRN and national id, only ever pseudonymized; sex, birth date). Beside CART-1: tocilizumab given for
# the CRS (concomitant) and fludarabine, prescribed for lymphodepletion but not given (not administered).
UNREGISTERED = [{"system": "urn:example:clinic-a:mrn", "value": "MRN-4471"},
                {"system": "urn:example:cn:national-id", "value": "110101197005061234"}]
TOCILIZUMAB = {"system": "http://www.whocc.no/atc", "code": "L04AC07", "display": "tocilizumab"}
FLUDARABINE = {"system": "http://www.whocc.no/atc", "code": "L01BB05", "display": "fludarabine"}


def _described_patient(bundle: dict) -> None:
    patient = bundle["entry"][1]["resource"]
    patient.update(identifier=UNREGISTERED, gender="female", birthDate="1970-05-06",
                   name=[{"family": "Zhang", "given": ["Wei"]}])  # never read


def r5_unregistered() -> dict:
    """R5: the concomitant and the not-administered drug as contributingFactor MedicationStatements."""
    out = r5("crs")
    _described_patient(out)
    statements = [
        {"resourceType": "MedicationStatement", "id": "ms1", "status": "recorded",
         "medication": {"concept": {"coding": [TOCILIZUMAB], "text": "tocilizumab"}},
         "subject": {"reference": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000001"}},
        {"resourceType": "MedicationStatement", "id": "ms2", "status": "recorded",
         "medication": {"concept": {"coding": [FLUDARABINE]}},
         "subject": {"reference": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000001"},
         "adherence": {"code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/medication-statement-adherence",
                                            "code": "not-taking"}]}}},
    ]
    for i, ms in enumerate(statements, start=4):
        out["entry"].append({"fullUrl": f"urn:uuid:7f1c0e4e-0001-4000-8000-00000000000{i}", "resource": ms,
                             "request": {"method": "POST", "url": "MedicationStatement"}})
    event(out)["contributingFactor"] = [
        {"itemReference": {"reference": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000004"}},
        {"itemReference": {"reference": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000005"}},
        {"itemCodeableConcept": {"text": "recent influenza"}},  # not a drug: left aside
    ]
    return out


def r4_unregistered() -> dict:
    """R4 has no contributingFactor: fludarabine, not taken, is a suspect entity's MedicationStatement
    (status not-taken); no concomitant drug."""
    out = r4("crs")
    _described_patient(out)
    out["entry"].append({"fullUrl": "urn:uuid:7f1c0e4e-0001-4000-8000-000000000005", "resource": {
        "resourceType": "MedicationStatement", "id": "ms2", "status": "not-taken",
        "medicationCodeableConcept": {"coding": [FLUDARABINE]}, "subject": {"reference": "Patient/p1"}}})
    event(out)["suspectEntity"].append({"instance": {"reference": "MedicationStatement/ms2"}})
    return out
