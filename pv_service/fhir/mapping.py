"""The neutral FHIR event (event.py) -> a report of the one case model (pure: no database, no web).

The report is the JSON intake's `ReportIn` (so pseudonymization, tenant checks, MedDRA coding,
plausibility and versioning are intake's own); what JSON has no field for is returned beside
it, to be stored in the version's and drugs' `detail`. Every problem names its FHIRPath.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pv_service.cases.schemas import ReportIn
from pv_service.fhir.event import MEDDRA, Concept, Event
from pv_service.fhir.outcome import FhirError, Issue, merged
from pv_service.products.matching import ProductIndex

# http://terminology.hl7.org/CodeSystem/adverse-event-seriousness (R4 has the criteria; R5 only
# serious/non-serious, whose criteria therefore default to E2B's "other medically important").
SERIOUSNESS = {
    "non-serious": None, "serious": "other_medically_important",
    "seriousresultsindeath": "death", "seriousislifethreatening": "life_threatening",
    "seriousresultsinhospitalization": "hospitalisation", "seriousresultsindisability": "disability",
    "seriousresultsinpersistentdisability": "disability",  # no such code: this service wrote it until 3 Dec 2026
    "seriousisbirthdefect": "congenital_anomaly", "seriousrequirespreventimpairment": "other_medically_important",
}
# http://terminology.hl7.org/CodeSystem/adverse-event-outcome -> E2B E.i.7.
OUTCOME = {"resolved": "recovered", "recovering": "recovering", "ongoing": "not_recovered",
           "resolvedwithsequelae": "recovered_with_sequelae", "fatal": "fatal", "unknown": "unknown"}
# http://terminology.hl7.org/CodeSystem/adverse-event-causality-assess (WHO-UMC categories).
CAUSALITY = {"certain": "related", "probably-likely": "probably_related", "possible": "possibly_related",
             "unlikely": "unlikely_related", "conditional-classified": "unassessable",
             "unassessable-unclassifiable": "unassessable"}
# Reporter qualification from Practitioner.qualification / PractitionerRole.code: HL7 v2-0360 degrees
# and SNOMED CT occupations; any other practitioner is another health professional.
PHYSICIAN = {"md", "do", "mbbs", "309343006", "158965000", "112247003", "physician"}
PHARMACIST = {"rph", "pharmd", "46255001", "pharmacist"}
# The described patient's fields as the Patient's elements (a problem is named at the subject).
PATIENT_ELEMENTS = {"identifiers": "Patient.identifier", "birth_year": "the year of Patient.birthDate",
                    "sex": "Patient.gender", "death_date": "Patient.deceasedDateTime"}
DRUG_ELEMENTS = {"product_code": "the product's coding code", "name_as_reported": "the product's text (or display)",
                 "dosages": "the lot", "relatedness": "causality"}
NEW_CASE_VERSION_ID = "1"  # FHIR counts versions from 1; the case model from 0


@dataclass
class Treatment:
    id: int
    batch_number: str
    product_code: str
    trade_name: str
    inn: str


@dataclass
class Mapped:
    report: ReportIn
    version_extra: dict[str, Any]  # columns JSON intake leaves at their defaults
    drug_extra: list[dict[str, Any]]  # per drug, in report order
    paths: "Paths"


class Paths:
    """Intake's field locations (`body.reactions.0.onset_date`) as FHIRPath of the posted resource."""

    def __init__(self, e: Event, meddra_path: str, drug_paths: list[str]):
        root = e.root
        self.root = root
        self.fields = {"reporter": e.reporter.path if e.reporter else f"{root}.recorder",
                       "patient": e.subject_path, "received_date": f"{root}.recordedDate",
                       # latest_info_date defaults to received_date when meta.lastUpdated is absent.
                       "latest_info_date": f"{root}.meta.lastUpdated" if e.last_updated else f"{root}.recordedDate", "version": f"{root}.meta.versionId",
                       "sender_case_id": f"{root}.identifier", "narrative": f"{root}.note",
                       "drugs": f"{root}.suspectEntity", "reactions": e.code_path}
        self.onset = e.onset_path
        self.meddra = meddra_path
        self.drugs = drug_paths

    def of(self, loc: tuple) -> str:
        loc = tuple(loc[1:]) if loc and loc[0] == "body" else tuple(loc)
        if not loc:
            return self.root
        head = loc[0]
        if head == "reactions" and len(loc) > 2:
            return self.onset if loc[2] == "onset_date" else self.meddra
        if head == "drugs" and len(loc) > 1 and isinstance(loc[1], int) and loc[1] < len(self.drugs):
            return self.drugs[loc[1]]
        return self.fields.get(head, self.root)


def _said(loc: tuple, msg: str) -> str:
    loc = loc[1:] if loc and loc[0] == "body" else loc
    if len(loc) > 1 and loc[0] == "patient" and loc[1] in PATIENT_ELEMENTS:
        return f"{PATIENT_ELEMENTS[loc[1]]}: {msg}"
    if len(loc) > 2 and loc[0] == "drugs" and loc[2] in DRUG_ELEMENTS:
        return f"{DRUG_ELEMENTS[loc[2]]}: {msg}"
    return msg


def _codes(c: Concept | None) -> list[dict]:
    return [x.as_dict() for x in c.codings] if c else []


def _seriousness(c: Concept | None, issues: list[Issue]) -> dict[str, bool]:
    flags: dict[str, bool] = {}
    if c is None:
        return flags
    named = []
    for i, x in enumerate(c.codings):
        key = (x.code or "").casefold()
        if key not in SERIOUSNESS:
            issues.append(Issue(f"{c.path}.coding[{i}].code", "not a code of adverse-event-seriousness "
                                "(non-serious, serious, or an R4 criterion such as SeriousResultsInHospitalization)",
                                "code-invalid"))
        elif SERIOUSNESS[key] is not None:
            named.append(key)
    criteria = {SERIOUSNESS[k] for k in named if k != "serious"}
    # "serious" alone names no criterion: E2B's catch-all, other medically important condition.
    for f in criteria or ({"other_medically_important"} if named else set()):
        flags[f] = True
    return flags


def _outcome(c: Concept | None, issues: list[Issue]) -> str:
    if c is None:
        return "unknown"
    for i, x in enumerate(c.codings):
        key = (x.code or "").casefold()
        if key in OUTCOME:
            return OUTCOME[key]
    issues.append(Issue(c.path, "no code of adverse-event-outcome (resolved, recovering, ongoing, "
                                "resolvedWithSequelae, fatal, unknown)", "code-invalid"))
    return "unknown"


def _causality(e: Event) -> str | None:
    for s in e.suspects:
        for c in s.causality:
            for x in (c.assessment.codings if c.assessment else []):
                found = CAUSALITY.get((x.code or "").casefold()) or (
                    x.code if x.code in set(CAUSALITY.values()) | {"not_related"} else None)
                if found:
                    return found
    return None


def _qualification(e: Event) -> str | None:
    r = e.reporter
    if r is None:
        return None
    if r.resource_type in ("Patient", "RelatedPerson"):
        return "consumer"
    codes = {c.casefold() for c in r.qualifications}
    if codes & PHYSICIAN:
        return "physician"
    if codes & PHARMACIST:
        return "pharmacist"
    return "other_health_professional"


def _names(p: Concept) -> tuple[set[str], set[str]]:
    return ({c.casefold() for c in p.codes()},
            {n.casefold() for n in [*(x.display for x in p.codings), p.text] if n})


def _in_registry(p: Concept, registry: ProductIndex) -> bool:
    codes, names = _names(p)
    return any(registry.match(c, None, []) for c in codes) or any(registry.match(None, n, []) for n in names)


def _match(s, treatments: list[Treatment], registry: ProductIndex, issues: list[Issue]) -> Treatment | None | bool:
    """The registered patient's treatment a suspect names; False for a drug the registry does not hold (a drug
    as reported); None with an issue for a registry product that is not one of this patient's treatments."""
    p = s.product
    codes, names = _names(p)
    found = [t for t in treatments if t.product_code.casefold() in codes
             or t.trade_name.casefold() in names or t.inn.casefold() in names]
    if not found:
        if not _in_registry(p, registry):
            return False
        issues.append(Issue(p.path, "names no product this patient was treated with at your clinic (matched by the "
                                    "registry's product code, trade name or INN)", "not-found"))
        return None
    if s.lot:
        by_lot = [t for t in found if t.batch_number.strip().casefold() == s.lot.strip().casefold()]
        if not by_lot:
            issues.append(Issue(s.path, f"lot {s.lot[:60]!r} is not the lot of this patient's treatment with this "
                                        "product (chain of identity)", "business-rule"))
            return None
        found = by_lot
    if len(found) > 1:
        issues.append(Issue(s.path, "this patient has several treatments with this product: give the lot "
                                    "(Medication.batch.lotNumber) to say which", "multiple-matches"))
        return None
    return found[0]


def _reported(s, registry: ProductIndex) -> dict[str, Any]:
    """A drug as reported (JSON's DrugIn): the code the registry knows first (else the first code), the text
    or display as the name, the lot as the one dosage's."""
    p = s.product
    with_code = [c for c in p.codings if c.code]
    code = next((c for c in with_code if registry.match(c.code, None, [])), with_code[0] if with_code else None)
    name = p.text or next((c.display for c in p.codings if c.display), None)
    drug: dict[str, Any] = {"role": s.role}
    if code is not None:
        drug["product_code"] = code.code
        if code.system and len(code.system) <= 100:  # a longer system stays in detail.fhir_product only
            drug["code_system"] = code.system
    if name:
        drug["name_as_reported"] = name
    if s.lot:
        drug["dosages"] = [{"lot": s.lot}]
    # G.k.9.i.2.r as JSON carries it: who assessed (the author's resource type), how, and the result.
    drug["relatedness"] = [{k: v[:250] for k, v in {
        "source": c.author, "method": _said_code(c.method), "result": _said_code(c.assessment)}.items() if v}
        for c in s.causality if c.assessment is not None]
    return drug


def _said_code(c: Concept | None) -> str | None:
    if c is None:
        return None
    return c.text or next((x.display or x.code for x in c.codings if x.display or x.code), None)


def _patient(e: Event, patient_id: int | None) -> dict[str, Any]:
    """The registered patient, or the one the Patient resource describes (identifiers only pseudonymized; E2B
    D.1.1 holds four record numbers, so the first four)."""
    if patient_id is not None:
        return {"patient_id": patient_id}
    s = e.subject
    out = {"identifiers": s.identifiers[:4], "sex": s.sex, "birth_year": s.birth_year, "death_date": s.death_date}
    return {k: v for k, v in out.items() if v not in (None, [])}


def _version(e: Event, issues: list[Issue]) -> int:
    vid = e.version_id or NEW_CASE_VERSION_ID
    if not vid.isdigit() or not 1 <= int(vid) <= 1000:
        issues.append(Issue(f"{e.root}.meta.versionId", "a whole number from 1 (version 1 is the initial report, "
                                                         "2, 3, ... its follow-ups)", "value"))
        return 0
    return int(vid) - 1


def to_report(e: Event, patient_id: int | None, treatments: list[Treatment] | None, first_received: dt.date | None,
              today: dt.date, coded: bool, issues: list[Issue], registry: ProductIndex | None = None) -> Mapped:
    """`patient_id`, `treatments`: the registered patient and its treatments, None for a patient the report
    describes (its drugs are all drugs as reported); `registry`: the registered products the drugs may name;
    `first_received`: the stored case's day 0, if this identifier is known; `coded`: a MedDRA dictionary is
    loaded (the code decides the PT; else code and display are stored as sent); `issues`: those found so far.
    Raises FhirError with every issue."""
    registry = registry or ProductIndex([])
    if not e.identifier_value:
        issues.append(Issue(f"{e.root}.identifier", "an identifier (the clinic's id of this case) is required: "
                                                     "it keys resends and follow-up versions", "required"))
    elif len(e.identifier_value) > 100 or e.identifier_value != e.identifier_value.strip():
        issues.append(Issue(f"{e.root}.identifier", "at most 100 characters, without surrounding spaces", "value"))
    version = _version(e, issues)
    meddra_path = e.code_path
    reaction: dict[str, Any] = {}
    if e.code is None:
        issues.append(Issue(e.code_path, f"the event's code is required, with a MedDRA coding (system {MEDDRA})",
                            "required"))
    else:
        meddra = [(i, c) for i, c in enumerate(e.code.codings) if c.system == MEDDRA]
        if not meddra:
            issues.append(Issue(f"{e.code_path}.coding", f"a MedDRA coding is required (system {MEDDRA}, code the "
                                                         "LLT or PT code, version the MedDRA version); other codings "
                                                         "(SNOMED CT, ...) are kept beside it", "required"))
        elif len(meddra) > 1:
            issues.append(Issue(f"{e.code_path}.coding[{meddra[1][0]}]", "one MedDRA coding per event", "invalid"))
        else:
            i, m = meddra[0]
            meddra_path = f"{e.code_path}.coding[{i}]"
            names = ("llt_code", "llt_name") if coded else ("pt_code", "pt_name")
            reaction = {"meddra_version": m.version, names[0]: m.code, names[1]: m.display}
    seriousness = _seriousness(e.seriousness, issues)
    outcome = _outcome(e.outcome, issues)
    drugs, drug_extra, drug_paths = [], [], []
    for s in e.suspects:
        if s.product is None:  # the extraction said why (a reference not held, a product without a code)
            continue
        t = _match(s, treatments, registry, issues) if treatments is not None and s.role == "suspect" else False
        if t is None:
            continue
        relatedness = [{"assessment": _codes(c.assessment), "method": _codes(c.method), "author_type": c.author,
                        "product_relatedness": c.relatedness} for c in s.causality]
        if t is False:  # intake's detail holds JSON's relatedness; the FHIR codings beside it
            drugs.append(_reported(s, registry))
            drug_extra.append({"detail": {"fhir_product": _codes(s.product), "fhir_relatedness": relatedness}})
        else:
            drugs.append({"treatment_id": t.id, "role": "suspect"})
            drug_extra.append({"batch_lot": s.lot or t.batch_number, "detail": {
                "fhir_product": _codes(s.product), "relatedness": relatedness}})
        drug_paths.append(s.path)
    if issues:
        raise FhirError(422, issues)
    qualification = _qualification(e)
    payload = {
        "sender_case_id": e.identifier_value, "version": version, "report_type": "spontaneous",
        "received_date": e.recorded or first_received or today,
        "latest_info_date": e.last_updated.date() if e.last_updated else None,
        "reporter": {"qualification": qualification,
                     "country": e.reporter.country if e.reporter else None} if e.reporter else None,
        "patient": _patient(e, patient_id), "drugs": drugs,
        "reactions": [{**reaction, "onset_date": e.onset, "seriousness": seriousness, "outcome": outcome,
                       "causality": _causality(e)}] if e.code is not None else [],
        "narrative": "\n\n".join(e.notes) or None,
    }
    paths = Paths(e, meddra_path, drug_paths)
    try:
        report = ReportIn.model_validate(payload)
    except ValidationError as exc:
        raise FhirError(422, merged([Issue(paths.of(tuple(err["loc"])), _said(tuple(err["loc"]), err["msg"]), "value")
                                     for err in exc.errors(include_url=False, include_input=False)])) from None
    detail = {"fhir": {
        "version": e.version, "resource_id": e.resource_id, "status": e.status,
        "identifier_system": e.identifier_system, "version_id": e.version_id or NEW_CASE_VERSION_ID,
        "event_codings": [c.as_dict() for c in e.code.codings if c.system != MEDDRA] if e.code else [],
        "event_text": e.code.text if e.code else None,
        "categories": [_codes(c) for c in e.categories], "severity": _codes(e.severity),
        "seriousness": _codes(e.seriousness), "outcome": _codes(e.outcome),
        "reporter": {"resource_type": e.reporter.resource_type, "qualifications": e.reporter.qualifications}
        if e.reporter else None,
        "received_date_from": "recordedDate" if e.recorded else "first receipt by this service",
    }}
    return Mapped(report, {"source_format": "fhir", "detail": detail}, drug_extra, paths)
