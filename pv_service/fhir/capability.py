"""GET /fhir/metadata: the CapabilityStatement of what this FHIR endpoint does."""
from __future__ import annotations

import datetime as dt

from pv_service.fhir.event import MEDDRA
from pv_service.fhir.read import R5

FHIR_VERSIONS = {R5: "5.0.0", "R4B": "4.3.0"}

ADVERSE_EVENT_DOC = (
    "create: one AdverseEvent (POST /fhir/AdverseEvent, references contained) or a transaction or collection "
    "Bundle of it and the resources it references (POST /fhir), as a clinic (its patients) or an MAH (cases about "
    "its products): subject -> the clinic's registered patient by its Patient.identifier, else the patient the "
    "report describes (Patient.gender, the year of birthDate, deceasedDateTime; identifiers only as a pseudonym, "
    "as for JSON reports); suspectEntity -> the registered patient's treatment with the named product "
    "(Medication/Immunization/BiologicallyDerivedProduct/MedicationStatement code: the registry's product code, "
    "trade name or INN; lot: batch.lotNumber), else a drug as reported (matched to the registry), suspect or, for "
    "a statement not taken, not administered; R5 contributingFactor -> MedicationStatement/"
    "MedicationAdministration/Immunization: concomitant drugs; "
    f"code (R5) / event (R4) -> the reaction, coded in MedDRA (system {MEDDRA}, version the MedDRA version), "
    "other codings kept; seriousness, outcome, occurrence (R5) / date (R4) -> onset; recordedDate -> day 0 "
    "(absent: first receipt here); causality -> relatedness; recorder / participant (R5) / contributor (R4) -> "
    "reporter. identifier keys the case; meta.versionId (1 = initial report) its version: the same version again "
    "is unchanged, with other content a conflict (409), a later one a follow-up. read / vread: the case rendered "
    "as AdverseEvent, for the caller's own cases.")


def capability_statement(version: str, now: dt.datetime) -> dict:
    return {
        "resourceType": "CapabilityStatement", "status": "active", "date": now.date().isoformat(),
        "kind": "instance", "software": {"name": "pv-service"},
        "implementation": {"description": "Post-market pharmacovigilance of cell therapies: adverse events from "
                                          "clinics' EHRs onto the ICH E2B(R3)-shaped case model"},
        "fhirVersion": FHIR_VERSIONS[version], "format": ["application/fhir+json", "application/fhir+xml"],
        "rest": [{
            "mode": "server",
            "documentation": "FHIR R5 and R4/R4B are both taken: say which with the Content-Type parameter "
                             "fhirVersion (4.0, 4.3, 5.0), else the AdverseEvent's shape decides. Answers are R5 "
                             "unless Accept asks for fhirVersion=4.0 or 4.3. Errors are OperationOutcomes naming "
                             "the FHIRPath of each problem; nothing is stored then.",
            "security": {"description": "Authorization: Bearer with a clinic's or MAH's API key (scope reports:write "
                                        "to create, read to read) or a token from POST /v1/auth/token"},
            "resource": [{"type": "AdverseEvent", "versioning": "versioned", "conditionalCreate": True,
                          "interaction": [{"code": "create"}, {"code": "read"}, {"code": "vread"}],
                          "documentation": ADVERSE_EVENT_DOC}],
            "interaction": [{"code": "transaction", "documentation": "a Bundle of one AdverseEvent and the "
                                                                    "resources it references, answered by a "
                                                                    "transaction-response Bundle (a collection "
                                                                    "Bundle too, answered by the AdverseEvent)"}],
        }],
    }
