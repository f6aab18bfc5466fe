"""A FHIR AdverseEvent with the resources it references, read into one version-neutral shape.

The version adapters (r5.py, r4.py) say where each thing sits in their version; this module
resolves references (contained `#id`, a Bundle entry by fullUrl or `Type/id`, or a logical
reference by identifier) and collects every problem with its FHIRPath before refusing.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pv_service.fhir.outcome import Issue

MEDDRA = "http://terminology.hl7.org/CodeSystem/mdr"
# What a suspect entity (or an R5 contributing factor) may point at, and where its product code and lot are.
PRODUCT_TYPES = ("Medication", "Immunization", "BiologicallyDerivedProduct", "MedicationStatement",
                 "MedicationAdministration")
# Resources naming a drug the patient took beside the suspect ones (R5 AdverseEvent.contributingFactor).
TAKEN_TYPES = ("MedicationStatement", "MedicationAdministration", "Immunization")
# Statuses saying the drug was not taken (R4 MedicationStatement.status, R5 .adherence.code; MedicationAdministration).
NOT_TAKEN = {"not-taken", "not-taking", "not-done"}
REPORTER_TYPES = ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson")


@dataclass(frozen=True)
class Coding:
    system: str | None
    version: str | None
    code: str | None
    display: str | None

    def as_dict(self) -> dict:
        return {k: v for k, v in {"system": self.system, "version": self.version, "code": self.code,
                                  "display": self.display}.items() if v is not None}


@dataclass
class Concept:
    path: str
    codings: list[Coding]
    text: str | None

    def codes(self) -> list[str]:
        return [c.code for c in self.codings if c.code]


@dataclass
class Causality:
    assessment: Concept | None
    method: Concept | None
    author: str | None  # the author's resource type (the author is not kept)
    relatedness: str | None  # R4 productRelatedness


@dataclass
class Suspect:
    path: str
    product: Concept | None  # the product's code(s) and text
    lot: str | None
    causality: list[Causality]
    role: str = "suspect"  # E2B G.k.1 where FHIR says it: concomitant, not_administered


@dataclass
class Subject:
    """What the subject Patient says: identifiers (only ever pseudonymized), sex, birth year, death date."""
    identifiers: list[str] = field(default_factory=list)
    sex: str | None = None
    birth_year: int | None = None
    death_date: dt.date | None = None


@dataclass
class Reporter:
    path: str
    resource_type: str
    qualifications: list[str]  # codes of Practitioner.qualification / PractitionerRole.code
    country: str | None


@dataclass
class Event:
    """What the mapping onto the case model needs, each with the FHIRPath it came from."""
    version: str
    root: str  # FHIRPath of the AdverseEvent (AdverseEvent, or Bundle.entry[i].resource)
    resource_id: str | None
    identifier_system: str | None
    identifier_value: str | None
    version_id: str | None
    last_updated: dt.datetime | None
    recorded: dt.date | None
    onset: dt.date | None
    onset_path: str
    code: Concept | None
    code_path: str
    seriousness: Concept | None
    outcome: Concept | None
    outcome_path: str
    subject: Subject
    subject_path: str
    suspects: list[Suspect]
    reporter: Reporter | None
    notes: list[str] = field(default_factory=list)
    categories: list[Concept] = field(default_factory=list)
    severity: Concept | None = None
    status: str | None = None


def ref_type(ref: Any) -> str | None:
    """The resource type a reference names (`Practitioner/1` -> Practitioner); the id is not kept."""
    text = getattr(ref, "reference", None) or ""
    return text.split("/")[-2] if text.count("/") >= 1 else None


def concept(cc: Any, path: str) -> Concept | None:
    if cc is None:
        return None
    return Concept(path, [Coding(c.system, c.version, c.code, c.display) for c in (cc.coding or [])], cc.text)


def day(value: Any, path: str, issues: list[Issue]) -> dt.date | None:
    """A FHIR date or dateTime as a calendar date (as written, in the sender's time zone)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value)
    if len(text) > 10 and text[10] == "T":  # a time Python cannot hold (a leap second, 23:59:60): its day
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            pass
    issues.append(Issue(path, "a full date (YYYY-MM-DD) is required here, not a year or month", "value"))
    return None


class Resolver:
    """Resolves references of one AdverseEvent against its contained resources and its Bundle."""

    def __init__(self, ae: Any, entries: list[tuple[str | None, Any]]):
        self.contained = {r.id: r for r in (ae.contained or []) if getattr(r, "id", None)}
        self.by_url: dict[str, Any] = {}
        self.by_type_id: dict[str, Any] = {}
        self.resources = [r for _, r in entries] + list(self.contained.values())
        for url, r in entries:
            if url:
                self.by_url[url] = r
            if getattr(r, "id", None):
                self.by_type_id[f"{r.get_resource_type()}/{r.id}"] = r

    def get(self, ref: Any, path: str, allowed: tuple[str, ...], issues: list[Issue]) -> Any:
        """The resource a Reference points at, or None with an issue naming why."""
        text = getattr(ref, "reference", None)
        if text is None:
            issues.append(Issue(path, "a reference to a resource this request holds is required", "required"))
            return None
        if text.startswith("#"):
            found = self.contained.get(text[1:])
        else:
            found = self.by_url.get(text) or self.by_type_id.get("/".join(text.split("/")[-2:]))
        if found is None:
            issues.append(Issue(path, f"references {text[:200]!r}, which this request does not hold: send the "
                                      "resource in the Bundle (or contained)", "not-found"))
            return None
        kind = found.get_resource_type()
        if kind not in allowed:
            issues.append(Issue(path, f"references a {kind}; expected {' or '.join(allowed)}", "invalid"))
            return None
        return found


def product_of(resource: Any, path: str, issues: list[Issue]) -> tuple[Concept | None, str | None]:
    """The product's codes and lot of a Medication, Immunization or BiologicallyDerivedProduct."""
    kind = resource.get_resource_type()
    if kind == "Medication":
        found, lot = concept(resource.code, f"{path}.code"), getattr(resource.batch, "lotNumber", None)
    elif kind == "Immunization":
        found, lot = concept(resource.vaccineCode, f"{path}.vaccineCode"), resource.lotNumber
    elif kind in ("MedicationStatement", "MedicationAdministration"):
        return _taken(resource, path, issues)
    else:
        found, lot = concept(resource.productCode, f"{path}.productCode"), None
    if found is None:
        issues.append(Issue(path, f"the {kind} needs a code naming the product (the registry's product code, "
                                  "trade name or INN)", "required"))
    return found, lot


def _taken(resource: Any, path: str, issues: list[Issue]) -> tuple[Concept | None, str | None]:
    """A MedicationStatement's or MedicationAdministration's drug: R5 `medication` (a CodeableReference),
    R4 `medicationCodeableConcept` / `medicationReference`; the lot is the referenced Medication's."""
    r5 = getattr(resource, "medication", None)
    cc = getattr(r5, "concept", None) if r5 is not None else getattr(resource, "medicationCodeableConcept", None)
    ref = getattr(r5, "reference", None) if r5 is not None else getattr(resource, "medicationReference", None)
    where = f"{path}.medication" if r5 is not None else f"{path}.medicationCodeableConcept"
    if cc is not None:
        return concept(cc, f"{where}.concept" if r5 is not None else where), None
    if ref is not None and getattr(ref, "reference", "").startswith("#"):
        med = next((c for c in (resource.contained or []) if c.id == ref.reference[1:]), None)
        if med is not None and med.get_resource_type() == "Medication":
            return concept(med.code, f"{path}.contained"), getattr(med.batch, "lotNumber", None)
    issues.append(Issue(path, f"the {resource.get_resource_type()} needs its medication as a code (the registry's "
                              "product code, trade name or INN) or a contained Medication", "required"))
    return None, None


def not_taken(resource: Any) -> bool:
    """Whether a MedicationStatement / MedicationAdministration says the drug was not given."""
    codes = [getattr(resource, "status", None)]
    adherence = getattr(resource, "adherence", None)
    if adherence is not None and adherence.code is not None:
        codes += [c.code for c in (adherence.code.coding or [])]
    return any(c in NOT_TAKEN for c in codes if c)


def role_of(resource: Any, default: str) -> str:
    kind = resource.get_resource_type()
    if kind in ("MedicationStatement", "MedicationAdministration") and not_taken(resource):
        return "not_administered"
    return default


STATUSES = ("in-progress", "completed", "unknown")  # entered-in-error would be a nullification


def check_kind(ae: Any, root: str, issues: list[Issue], status: str | None = None) -> None:
    """Only actual events are case reports; R5's status is a required binding fhir.resources leaves unchecked."""
    if ae.actuality != "actual":
        issues.append(Issue(f"{root}.actuality", "only an actual adverse event is a case report (not a potential "
                                                 "one, a near miss)", "not-supported" if ae.actuality == "potential"
                            else "code-invalid"))
    if status is not None and status not in STATUSES:
        issues.append(Issue(f"{root}.status", "entered-in-error (a nullification) is not taken over FHIR; "
                                              "use the JSON or E2B intake" if status == "entered-in-error" else
                            f"one of {', '.join(STATUSES)}", "not-supported" if status == "entered-in-error"
                            else "code-invalid"))


def _qualifications(practitioner: Any) -> list[str]:
    return [c.code for q in (practitioner.qualification or []) if q.code is not None
            for c in (q.code.coding or []) if c.code]


def first_reporter(candidates: list, resolver: Resolver, issues: list[Issue]) -> Reporter | None:
    """The reporter of the first candidate reference (recorder, then participants or contributors)."""
    if not candidates:
        return None
    ref, path = candidates[0]
    found = resolver.get(ref, path, REPORTER_TYPES, issues)
    return None if found is None else reporter_of(found, path, resolver, issues)


def reporter_of(resource: Any, path: str, resolver: Resolver, issues: list[Issue]) -> Reporter:
    kind = resource.get_resource_type()
    codes: list[str] = []
    address = None
    if kind == "Practitioner":
        codes = _qualifications(resource)
        address = (resource.address or [None])[0]
    elif kind == "PractitionerRole":
        codes = [c.code for cc in (resource.code or []) for c in (cc.coding or []) if c.code]
        if resource.practitioner is not None and resource.practitioner.reference:
            who = resolver.get(resource.practitioner, f"{path}.practitioner", ("Practitioner",), [])
            if who is not None:
                codes += _qualifications(who)
                address = (who.address or [None])[0]
    country = getattr(address, "country", None)
    return Reporter(path, kind, codes, country if country and len(country) == 2 and country.isupper() else None)


SEX = {"male": "male", "female": "female"}  # other, unknown: E2B D.5 has no code for them


def subject_of(ref: Any, path: str, resolver: Resolver, issues: list[Issue]) -> Subject:
    """The subject: a logical reference's identifier, or the Patient it points at (identifiers, gender, birth
    year, death date). Whether it is a registered patient or one described is the service's to find."""
    if ref is None:
        issues.append(Issue(path, "the patient (subject) is required", "required"))
        return Subject()
    if getattr(ref, "identifier", None) is not None and ref.reference is None:
        return Subject([ref.identifier.value] if ref.identifier.value else [])
    patient = resolver.get(ref, path, ("Patient",), issues)
    if patient is None:
        return Subject()
    born = str(patient.birthDate)[:4] if patient.birthDate is not None else None
    died = getattr(patient, "deceasedDateTime", None)
    return Subject([i.value for i in (patient.identifier or []) if i.value], SEX.get(patient.gender or ""),
                   int(born) if born and born.isdigit() else None,
                   died.date() if isinstance(died, dt.datetime) else died if isinstance(died, dt.date) else None)
