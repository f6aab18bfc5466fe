"""FHIR R5 AdverseEvent <-> the neutral event (event.py): where R5 keeps each part."""
from __future__ import annotations

from typing import Any

from pv_service.fhir import event as ev
from pv_service.fhir.event import Causality, Event, Resolver, Suspect
from pv_service.fhir.outcome import Issue

VERSION = "R5"


def extract(ae: Any, root: str, resolver: Resolver, issues: list[Issue]) -> Event:
    """The event, adding to `issues` what is wrong with it (the caller refuses once all is checked)."""
    ident = next((i for i in (ae.identifier or []) if i.value), None)
    onset_path = f"{root}.occurrenceDateTime"
    onset = ae.occurrenceDateTime
    if onset is None and ae.occurrencePeriod is not None:
        onset, onset_path = ae.occurrencePeriod.start, f"{root}.occurrencePeriod.start"
    suspects = []
    for i, s in enumerate(ae.suspectEntity or []):
        path = f"{root}.suspectEntity[{i}]"
        product, lot, role = None, None, "suspect"
        if s.instanceCodeableConcept is not None:
            product = ev.concept(s.instanceCodeableConcept, f"{path}.instanceCodeableConcept")
        else:
            found = resolver.get(s.instanceReference, f"{path}.instanceReference", ev.PRODUCT_TYPES, issues)
            if found is not None:
                product, lot = ev.product_of(found, f"{path}.instanceReference", issues)
                role = ev.role_of(found, role)
        c = s.causality
        causality = [Causality(ev.concept(c.entityRelatedness, f"{path}.causality.entityRelatedness"),
                               ev.concept(c.assessmentMethod, f"{path}.causality.assessmentMethod"),
                               ev.ref_type(c.author), None)] if c is not None else []
        suspects.append(Suspect(path, product, lot, causality, role))
    suspects += _taken_drugs(ae, root, resolver, issues)
    ev.check_kind(ae, root, issues, ae.status)
    candidates = [(ae.recorder, f"{root}.recorder")] if ae.recorder is not None else []
    candidates += [(p.actor, f"{root}.participant[{i}].actor") for i, p in enumerate(ae.participant or [])]
    reporter = ev.first_reporter(candidates, resolver, issues)
    out = Event(
        version=VERSION, root=root, resource_id=ae.id,
        identifier_system=ident.system if ident else None, identifier_value=ident.value if ident else None,
        version_id=ae.meta.versionId if ae.meta else None, last_updated=ae.meta.lastUpdated if ae.meta else None,
        recorded=ev.day(ae.recordedDate, f"{root}.recordedDate", issues),
        onset=ev.day(onset, onset_path, issues), onset_path=onset_path,
        code=ev.concept(ae.code, f"{root}.code"), code_path=f"{root}.code",
        seriousness=ev.concept(ae.seriousness, f"{root}.seriousness"),
        outcome=ev.concept((ae.outcome or [None])[0], f"{root}.outcome[0]"), outcome_path=f"{root}.outcome[0]",
        subject=ev.subject_of(ae.subject, f"{root}.subject", resolver, issues),
        subject_path=f"{root}.subject", suspects=suspects, reporter=reporter,
        notes=[n.text for n in (ae.note or []) if n.text],
        categories=[ev.concept(c, f"{root}.category[{i}]") for i, c in enumerate(ae.category or [])],
        status=ae.status,
    )
    if len(ae.outcome or []) > 1:
        issues.append(Issue(f"{root}.outcome[1]", "one outcome per adverse event (E2B E.i.7)", "invalid"))
    return out


# The other resources R5 allows as contributingFactor.itemReference: not drugs.
FACTOR_TYPES = ("Condition", "Observation", "AllergyIntolerance", "FamilyMemberHistory", "Procedure", "Device",
                "DeviceUsage", "DocumentReference")


def _taken_drugs(ae: Any, root: str, resolver: Resolver, issues: list[Issue]) -> list[Suspect]:
    """contributingFactor items that are drugs the patient took (MedicationStatement, MedicationAdministration,
    Immunization): concomitant, or not administered where the statement says so. Other factors (conditions,
    procedures, devices) are not drugs and are left aside."""
    out = []
    for i, f in enumerate(ae.contributingFactor or []):
        ref, path = f.itemReference, f"{root}.contributingFactor[{i}].itemReference"
        if ref is None:
            continue
        found = resolver.get(ref, path, ev.TAKEN_TYPES + FACTOR_TYPES, scratch := [])
        if found is None:
            if ev.ref_type(ref) not in FACTOR_TYPES:  # a drug (or what may be one) not sent: say so
                issues.extend(scratch)
            continue
        if found.get_resource_type() not in ev.TAKEN_TYPES:
            continue
        product, lot = ev.product_of(found, path, issues)
        out.append(Suspect(path, product, lot, [], ev.role_of(found, "concomitant")))
    return out


CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def render(p) -> dict:
    """A stored case version (render.Parts) as an R5 AdverseEvent."""
    conditions = [{**c, "clinicalStatus": {"coding": [{"system": CLINICAL_SYSTEM, "code": c["clinicalStatus"] or "unknown"}]}}
                  for c in p.conditions]
    out: dict = {
        "resourceType": "AdverseEvent", "id": p.id, "meta": {"versionId": p.version_id, "lastUpdated": p.last_updated},
        "contained": p.medications + conditions + list(p.taken) + ([p.patient] if p.patient else []), "identifier": [p.identifier], "status": "completed",
        "actuality": "actual", "code": p.code, "subject": p.subject, "recordedDate": p.recorded,
        "seriousness": p.seriousness, "outcome": [p.outcome], "recorder": p.recorder,
        "suspectEntity": [{"instanceReference": {"reference": f"#{m['id']}"},
                           **({"causality": {"entityRelatedness": p.causality}} if p.causality else {})}
                          for m in p.medications],
    }
    if p.onset:
        out["occurrenceDateTime"] = p.onset
    if p.taken:
        out["contributingFactor"] = [{"itemReference": {"reference": f"#{t['id']}"}} for t in p.taken]
    if conditions:
        out["resultingEffect"] = [{"reference": f"#{c['id']}"} for c in conditions]
    if p.note:
        out["note"] = [{"text": p.note}]
    return {k: v for k, v in out.items() if v != []}
