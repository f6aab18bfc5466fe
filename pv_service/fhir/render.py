"""A stored case version as the parts of a FHIR AdverseEvent (the version adapters assemble them).

The patient is named by this service's id only (the clinic's identifier is never kept); the
first reaction is the event, further reactions are contained Conditions; each suspect or
interacting drug is a contained Medication with the registry's product code and the lot.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pv_service.fhir.event import MEDDRA
from pv_service.fhir.mapping import CAUSALITY, OUTCOME

SERIOUSNESS_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
OUTCOME_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
CAUSALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-causality-assess"
PRODUCT_SYSTEM = "urn:pv-service:product-code"
PATIENT_SYSTEM = "urn:pv-service:patient-id"
ADHERENCE_SYSTEM = "http://hl7.org/fhir/CodeSystem/medication-statement-adherence"
SUBJECT_REF = {"reference": "#patient", "type": "Patient"}
# The criteria are codes of the system's R4 version (4.0.1, case-sensitive); its current version,
# R5's, has only serious and non-serious: R5 names the criteria with version 4.0.1 (r4.py drops it).
CRITERIA = {"death": "SeriousResultsInDeath", "life_threatening": "SeriousIsLifeThreatening",
            "hospitalisation": "SeriousResultsInHospitalization", "disability": "SeriousResultsInDisability",
            "congenital_anomaly": "SeriousIsBirthDefect", "other_medically_important": "SeriousRequiresPreventImpairment"}
CRITERIA_VERSION = "4.0.1"
OUTCOME_CODES = {v: k for k, v in {"resolved": "recovered", "recovering": "recovering", "ongoing": "not_recovered",
                                   "resolvedWithSequelae": "recovered_with_sequelae", "fatal": "fatal",
                                   "unknown": "unknown"}.items()}
CAUSALITY_CODES = {"related": "Certain", "probably_related": "Probably-Likely", "possibly_related": "Possible",
                   "unlikely_related": "Unlikely", "unassessable": "Unassessable-Unclassifiable"}
# A further reaction's outcome as its Condition's clinical status (None: R5 says unknown, R4 nothing).
CLINICAL = {"recovered": "resolved", "recovered_with_sequelae": "resolved", "recovering": "remission",
            "not_recovered": "active", "fatal": "active"}
assert set(OUTCOME_CODES) == set(OUTCOME.values()) and set(CAUSALITY_CODES) <= set(CAUSALITY.values())


@dataclass
class Parts:
    id: str
    version_id: str
    last_updated: str
    identifier: dict
    code: dict
    onset: str | None
    recorded: str
    seriousness: dict
    outcome: dict
    subject: dict
    medications: list[dict]  # suspect and interacting drugs, contained, ids drug0, drug1, ...
    causality: dict | None  # the event's relatedness to the suspect products
    conditions: list[dict]  # further reactions, contained, ids reaction1, ...
    recorder: dict
    note: str | None
    patient: dict | None = None  # a described patient, contained (sex, birth year, death date: no identifier)
    taken: list[dict] = ()  # concomitant and not administered drugs: contained MedicationStatements (R5)


def _reaction_code(r: Any) -> dict:
    coding = {"system": MEDDRA, "code": r.llt_code or r.pt_code, "display": r.llt_name or r.pt_name}
    if r.meddra_version:
        coding["version"] = r.meddra_version
    return {"coding": [coding]}


def parts(case: Any, view: Any, registry: list[tuple]) -> Parts:
    fhir = (view.detail or {}).get("fhir", {}) if isinstance(view.detail, dict) else {}
    first, *others = view.reactions
    code = _reaction_code(first)
    code["coding"] += fhir.get("event_codings", [])
    if fhir.get("event_text"):
        code["text"] = fhir["event_text"]
    flags = [f for f in CRITERIA if getattr(first.seriousness, f)]
    seriousness = {"coding": [{"system": SERIOUSNESS_SYSTEM, "code": "serious" if view.serious else "non-serious"}]
                   + [{"system": SERIOUSNESS_SYSTEM, "version": CRITERIA_VERSION, "code": CRITERIA[f]} for f in flags]}
    meds, taken = [], []
    for i, (d, (code_, name, batch)) in enumerate(zip(view.drugs, registry)):
        if code_:
            code_of = {"coding": [{"system": PRODUCT_SYSTEM, "code": code_, "display": name}]}
        else:  # not registered: as reported
            code_of = {"coding": [{"code": d.reported_product_code, **(
                {"display": d.name_as_reported} if d.name_as_reported else {})}]} if d.reported_product_code else {}
            code_of["text"] = d.name_as_reported or d.reported_product_code or "not registered"
        med: dict = {"resourceType": "Medication", "id": f"drug{i}", "code": code_of}
        lot = d.batch_lot or batch
        if lot:
            med["batch"] = {"lotNumber": lot}
        if d.role in ("suspect", "interacting"):
            meds.append(med)
        else:
            taken.append({"resourceType": "MedicationStatement", "id": f"taken{i}", "status": "recorded",
                          "medication": {"concept": code_of}, "subject": SUBJECT_REF,
                          **({"adherence": {"code": {"coding": [{"system": ADHERENCE_SYSTEM, "code": "not-taking"}]}}}
                             if d.role == "not_administered" else {})})
    causality = None
    if first.causality in CAUSALITY_CODES:
        causality = {"coding": [{"system": CAUSALITY_SYSTEM, "code": CAUSALITY_CODES[first.causality]}]}
    described = view.patient
    patient = None
    if case.patient_id:
        subject = {"type": "Patient", "identifier": {"system": PATIENT_SYSTEM, "value": str(case.patient_id)}}
    else:  # the patient the report described: what it said, never a name, initials or identifier
        subject = {**SUBJECT_REF, "display": "the patient described in the report"}
        patient = {"resourceType": "Patient", "id": "patient"}
        if described is not None and described.sex:
            patient["gender"] = described.sex
        if described is not None and described.birth_year:
            patient["birthDate"] = str(described.birth_year)
        if described is not None and described.death_date:
            patient["deceasedDateTime"] = described.death_date.isoformat()
    conditions = [{"resourceType": "Condition", "id": f"reaction{i}", "code": _reaction_code(r), "subject": subject,
                   "clinicalStatus": CLINICAL.get(r.outcome),
                   **({"onsetDateTime": r.onset_date.isoformat()} if r.onset_date else {})}
                  for i, r in enumerate(others, start=1)]
    return Parts(
        id=str(case.id), version_id=str(view.version + 1), last_updated=view.created_at.isoformat(),
        identifier={"system": fhir.get("identifier_system") or f"urn:pv-service:organization:{case.sender_id}:case",
                    "value": case.sender_case_id},
        code=code, onset=first.onset_date.isoformat() if first.onset_date else None,
        recorded=view.received_date.isoformat(), seriousness=seriousness,
        outcome={"coding": [{"system": OUTCOME_SYSTEM, "code": OUTCOME_CODES.get(first.outcome, "unknown")}]},
        subject=subject, medications=meds, causality=causality, conditions=conditions,
        recorder={"display": f"reporter: {view.reporter_qualification}, {view.reporter_country}"},
        note=view.narrative, patient=patient, taken=taken,
    )
