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
# What a suspect entity may point at, and where its product code and lot are.
PRODUCT_TYPES = ("Medication", "Immunization", "BiologicallyDerivedProduct")
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
    patient_identifiers: list[str]
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
    else:
        found, lot = concept(resource.productCode, f"{path}.productCode"), None
    if found is None:
        issues.append(Issue(path, f"the {kind} needs a code naming the product (the registry's product code, "
                                  "trade name or INN)", "required"))
    return found, lot


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


def patient_identifiers(ref: Any, path: str, resolver: Resolver, issues: list[Issue]) -> list[str]:
    """The subject's identifier values: a logical reference's, or those of the Patient it points at."""
    if ref is None:
        issues.append(Issue(path, "the patient (subject) is required", "required"))
        return []
    if getattr(ref, "identifier", None) is not None and ref.reference is None:
        return [ref.identifier.value] if ref.identifier.value else []
    patient = resolver.get(ref, path, ("Patient",), issues)
    if patient is None:
        return []
    values = [i.value for i in (patient.identifier or []) if i.value]
    if not values:
        issues.append(Issue(f"{path}", "the Patient needs an identifier (the clinic's own identifier of the "
                                       "patient, as registered with POST /v1/patients)", "required"))
    return values
