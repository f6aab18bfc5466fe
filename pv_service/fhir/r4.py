"""FHIR R4/R4B AdverseEvent <-> the neutral event (event.py): where R4 keeps each part."""
from __future__ import annotations

from typing import Any

from pv_service.fhir import event as ev
from pv_service.fhir.event import Causality, Event, Resolver, Suspect
from pv_service.fhir.outcome import Issue

VERSION = "R4B"


def extract(ae: Any, root: str, resolver: Resolver, issues: list[Issue]) -> Event:
    """The event, adding to `issues` what is wrong with it (the caller refuses once all is checked)."""
    ident = ae.identifier if ae.identifier is not None and ae.identifier.value else None
    suspects = []
    for i, s in enumerate(ae.suspectEntity or []):
        path = f"{root}.suspectEntity[{i}]"
        product, lot, role = None, None, "suspect"
        found = resolver.get(s.instance, f"{path}.instance", ev.PRODUCT_TYPES, issues)
        if found is not None:
            product, lot = ev.product_of(found, f"{path}.instance", issues)
            role = ev.role_of(found, role)
        causality = [Causality(ev.concept(c.assessment, f"{path}.causality[{j}].assessment"),
                               ev.concept(c.method, f"{path}.causality[{j}].method"),
                               ev.ref_type(c.author),
                               c.productRelatedness)
                     for j, c in enumerate(s.causality or [])]
        suspects.append(Suspect(path, product, lot, causality, role))
    ev.check_kind(ae, root, issues)
    candidates = [(ae.recorder, f"{root}.recorder")] if ae.recorder is not None else []
    candidates += [(c, f"{root}.contributor[{i}]") for i, c in enumerate(ae.contributor or [])]
    reporter = ev.first_reporter(candidates, resolver, issues)
    out = Event(
        version=VERSION, root=root, resource_id=ae.id,
        identifier_system=ident.system if ident else None, identifier_value=ident.value if ident else None,
        version_id=ae.meta.versionId if ae.meta else None, last_updated=ae.meta.lastUpdated if ae.meta else None,
        recorded=ev.day(ae.recordedDate, f"{root}.recordedDate", issues),
        onset=ev.day(ae.date, f"{root}.date", issues), onset_path=f"{root}.date",
        code=ev.concept(ae.event, f"{root}.event"), code_path=f"{root}.event",
        seriousness=ev.concept(ae.seriousness, f"{root}.seriousness"),
        outcome=ev.concept(ae.outcome, f"{root}.outcome"), outcome_path=f"{root}.outcome",
        subject=ev.subject_of(ae.subject, f"{root}.subject", resolver, issues),
        subject_path=f"{root}.subject", suspects=suspects, reporter=reporter,
        categories=[ev.concept(c, f"{root}.category[{i}]") for i, c in enumerate(ae.category or [])],
        severity=ev.concept(ae.severity, f"{root}.severity"),
    )
    return out


CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def render(p) -> dict:
    """A stored case version (render.Parts) as an R4/R4B AdverseEvent (R4 has no note: the narrative is the text)."""
    conditions = []
    for c in p.conditions:
        status = c.get("clinicalStatus")
        c = {k: v for k, v in c.items() if k != "clinicalStatus"}
        if status:
            c["clinicalStatus"] = {"coding": [{"system": CLINICAL_SYSTEM, "code": status}]}
        conditions.append(c)
    out: dict = {
        "resourceType": "AdverseEvent", "id": p.id, "meta": {"versionId": p.version_id, "lastUpdated": p.last_updated},
        # R4 has no place for concomitant drugs (no contributingFactor): R5 read-back carries them.
        "contained": p.medications + conditions + ([p.patient] if p.patient else []), "identifier": p.identifier, "actuality": "actual", "event": p.code,
        "subject": p.subject, "recordedDate": p.recorded, "seriousness": _r4_seriousness(p.seriousness),
        "outcome": p.outcome,
        "recorder": p.recorder,
        "suspectEntity": [{"instance": {"reference": f"#{m['id']}"},
                           **({"causality": [{"assessment": p.causality}]} if p.causality else {})}
                          for m in p.medications],
    }
    if p.onset:
        out["date"] = p.onset
    if conditions:
        out["resultingCondition"] = [{"reference": f"#{c['id']}"} for c in conditions]
    if p.note:
        out["text"] = {"status": "generated", "div": _div(p.note)}
    return {k: v for k, v in out.items() if v != []}


def _div(text: str) -> str:
    from html import escape

    return f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{escape(text)}</p></div>'


# R4's adverse-event-seriousness (4.0.1) spells its two top codes capitalised, and is the version
# the criteria come from, so the codings need no version of their own.
_R4_TOP = {"serious": "Serious", "non-serious": "Non-serious"}


def _r4_seriousness(concept: dict) -> dict:
    return {**concept, "coding": [{k: (_R4_TOP.get(v, v) if k == "code" else v) for k, v in c.items() if k != "version"}
                                  for c in concept["coding"]]}

