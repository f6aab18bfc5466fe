"""One FHIR AdverseEvent (alone or in its Bundle) in, one case version stored or refused.

Decisions are JSON intake's (cases/intake.py: the patient by the clinic's pseudonymized
identifier, its own treatments only, else a patient the report describes with drugs as reported;
an MAH's cases about its own products; MedDRA coding, plausibility; the same version again is
unchanged, with other content a conflict, a later one a follow-up); this module finds the
patient and treatments the resource names, adds what JSON has no field for (source format,
the FHIR codings and assessments, the lot), and writes through intake_sql.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from pv_service.auth.principal import Principal
from pv_service.cases import intake, intake_sql
from pv_service.cases import service as cases
from pv_service.cases.access import case_filter
from pv_service.cases.hashing import content_hash
from pv_service.cases.models import Case, CaseDrug, CaseVersion
from pv_service.common.errors import (
    Conflict,
    DomainError,
    FieldProblem,
    InvalidInput,
    NotFound,
)
from pv_service.common.vocab import Role
from pv_service.fhir import mapping, r4, r5
from pv_service.fhir.event import Event, Resolver
from pv_service.fhir.outcome import FhirError, Issue, merged
from pv_service.fhir.read import R5, Parsed
from pv_service.meddra.lookup import loaded_dictionaries
from pv_service.patients.models import Patient, Treatment
from pv_service.patients.service import pseudonym_for
from pv_service.products.matching import ProductIndex
from pv_service.products.models import Product

BUNDLE_TYPES = ("transaction", "collection")
_TREATMENTS = (sa.select(Treatment.id, Treatment.batch_number, Product.code, Product.trade_name, Product.inn)
               .join(Product, Product.id == Treatment.product_id).where(Treatment.patient_id == sa.bindparam("pid"))
               .order_by(Treatment.id))


@dataclass
class Receipt:
    case_id: int
    version: int
    created: bool
    warnings: list[Issue] = field(default_factory=list)


def _modifier_extension(value, path: str) -> str | None:
    """The FHIRPath of the first modifierExtension in a resource (as a dict), or None."""
    stack = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            if node.get("modifierExtension"):
                return f"{where}.modifierExtension"
            stack.extend((v, f"{where}.{k}") for k, v in reversed(node.items()) if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(node))))
    return None


def event_of(parsed: Parsed, issues: list[Issue]) -> Event:
    """The one AdverseEvent of the request, read with its version's adapter (its problems added to `issues`)."""
    res = parsed.resource
    # FHIR: a system SHALL NOT process a resource carrying a modifier extension it does not know (it
    # changes the meaning of what it sits on, a negation say); none is known here
    found = _modifier_extension(res.model_dump(exclude_none=True), res.get_resource_type())
    if found is not None:
        raise FhirError.one(422, found, "a modifierExtension changes what this element means, and this server knows "
                                        "none: the resource cannot be processed", "not-supported")
    adapter = r5 if parsed.version == R5 else r4
    if res.get_resource_type() == "AdverseEvent":
        return adapter.extract(res, "AdverseEvent", Resolver(res, []), issues)
    if res.type not in BUNDLE_TYPES:
        raise FhirError.one(422, "Bundle.type", f"a {' or '.join(BUNDLE_TYPES)} Bundle is taken, not {res.type!r}",
                            "not-supported")
    entries = res.entry or []
    if res.type == "transaction":
        # each entry is a create (POST) of the one case; a delete, update or conditional request the
        # server does not honour is refused, not stored as a create
        for i, e in enumerate(entries):
            request = getattr(e, "request", None)
            method = getattr(request, "method", None) if request is not None else None
            if method is not None and method != "POST":
                raise FhirError.one(422, f"Bundle.entry[{i}].request.method",
                                    f"{method} is not supported in a transaction here: each entry is POSTed "
                                    "(the AdverseEvent with the resources it references)", "not-supported")
    events = [i for i, e in enumerate(entries) if e.resource is not None
              and e.resource.get_resource_type() == "AdverseEvent"]
    if len(events) != 1:
        raise FhirError.one(422, "Bundle.entry", f"one AdverseEvent per Bundle (this one holds {len(events)}), "
                                                 "with the resources it references", "invalid")
    ae = entries[events[0]].resource
    held = [(e.fullUrl, e.resource) for e in entries if e.resource is not None]
    return adapter.extract(ae, f"Bundle.entry[{events[0]}].resource", Resolver(ae, held), issues)


def if_none_exist(parsed: Parsed) -> tuple[str, str | None, str] | None:
    """(FHIRPath, system, value) of the AdverseEvent entry's conditional create (request.ifNoneExist
    `identifier=[system|]value`), or None. Another search is refused: it would not be honoured."""
    res = parsed.resource
    if res.get_resource_type() != "Bundle" or res.type != "transaction":
        return None
    for i, e in enumerate(res.entry or []):
        request = getattr(e, "request", None)
        query = getattr(request, "ifNoneExist", None) if request is not None else None
        if not query or e.resource is None or e.resource.get_resource_type() != "AdverseEvent":
            continue
        path = f"Bundle.entry[{i}].request.ifNoneExist"
        name, sep, wanted = query.partition("=")
        if name.strip() != "identifier" or not sep or "&" in wanted or not wanted.strip():
            raise FhirError.one(422, path, "a conditional create is honoured by identifier only "
                                           "(identifier=system|value): the case is the sender's identifier",
                                "not-supported")
        system, bar, value = wanted.strip().rpartition("|")
        return path, (system or None) if bar else None, value if bar else wanted.strip()
    return None


def _existing(conn, principal: Principal, value: str) -> Receipt | None:
    """The sender's case of this identifier, as a receipt of nothing stored (a conditional create's match)."""
    row = conn.execute(sa.select(Case.id, Case.latest_version).where(
        Case.sender_id == principal.organization_id, Case.sender_case_id == value)).first()
    return Receipt(row[0], row[1], False) if row is not None else None


def _patient(conn, principal: Principal, e: Event) -> int | None:
    """The clinic's registered patient the subject's identifiers name; None for a patient the report describes
    (an MAH's patients are always described, as in JSON intake)."""
    if principal.role != Role.clinic or not e.subject.identifiers:
        return None
    sender = principal.organization_id
    pseudonyms = [pseudonym_for(sender, v) for v in e.subject.identifiers]
    found = dict(conn.execute(sa.select(Patient.pseudonym, Patient.id).where(
        Patient.clinic_id == sender, Patient.pseudonym.in_(pseudonyms))).all())
    return next((found[p] for p in pseudonyms if p in found), None)


def _registry(conn, e: Event) -> ProductIndex:
    """The registered products the event's drugs may name (by code, trade name or INN, whatever the case)."""
    names = sorted({n.lower() for s in e.suspects if s.product is not None
                    for n in [*s.product.codes(), *(c.display for c in s.product.codings if c.display),
                              s.product.text] if n})
    if not names:
        return ProductIndex([])
    cols = (Product.id, Product.code, Product.trade_name, Product.inn, Product.mah_organization_id)
    return ProductIndex(conn.execute(sa.select(*cols).where(sa.or_(
        sa.func.lower(Product.code).in_(names), sa.func.lower(Product.trade_name).in_(names),
        sa.func.lower(Product.inn).in_(names)))).all())


def _issue_code(problem: FieldProblem) -> str:
    if problem.type in ("missing", "missing_minimum_criterion"):
        return "required"
    return "code-invalid" if problem.type.startswith("meddra") else "business-rule"


def _issues(exc: DomainError, paths: mapping.Paths, versions: tuple[int, int | None] | None = None) -> FhirError:
    """`versions`: (the report's version, the case's latest stored) as intake numbers them (from 0),
    for its version messages in FHIR's numbers (meta.versionId, from 1)."""
    if isinstance(exc, InvalidInput):
        return FhirError(422, merged([Issue(paths.of(p.loc), _in_fhir_numbers(p.msg, p.type, versions), _issue_code(p))
                                      for p in exc.problems]))
    if isinstance(exc, Conflict):
        return FhirError.one(409, paths.fields["version"], _in_fhir_numbers(exc.message, "conflict", versions),
                             "conflict")
    return FhirError.one(exc.status_code, paths.root, exc.message,
                         "forbidden" if exc.status_code == 403 else "processing")


def _in_fhir_numbers(message: str, kind: str, versions: tuple[int, int | None] | None) -> str:
    """Intake's version messages count from 0 (JSON's `version`); a FHIR client's meta.versionId from 1."""
    if versions is None or kind not in ("version_gap", "conflict"):
        return message
    version, latest = versions[0] + 1, (versions[1] + 1 if versions[1] is not None else None)
    if kind == "version_gap":
        if latest is None:
            return f"version gap: this AdverseEvent has no version yet, so meta.versionId starts at 1, not {version}"
        return (f"version gap: the latest version received is {latest}, so meta.versionId is {latest + 1}, "
                f"not {version}")
    if "already received" in message:
        return f"version {version} (meta.versionId) of this AdverseEvent was already received with different content"
    if "older than" in message:
        return f"version {version} (meta.versionId) is older than the latest version {latest}; send a new version"
    return message


def _warning(w: FieldProblem, paths: mapping.Paths) -> Issue:
    return Issue(paths.of(w.loc), w.msg, "informational", "warning")


def receive(session: Session, principal: Principal, parsed: Parsed, now: dt.datetime) -> Receipt:
    """Stores inside the session's transaction (the caller commits); raises FhirError, nothing stored."""
    issues: list[Issue] = []
    e = event_of(parsed, issues)
    conn = session.connection()
    sender = principal.organization_id
    conditional = if_none_exist(parsed)
    if conditional is not None:  # FHIR conditional create: a match is answered, nothing is stored
        found = _existing(conn, principal, conditional[2])
        if found is not None:
            return found
    patient_id = _patient(conn, principal, e)
    treatments = [mapping.Treatment(*row) for row in conn.execute(_TREATMENTS, {"pid": patient_id}).all()] \
        if patient_id is not None else None
    first = conn.execute(sa.select(Case.first_received).where(
        Case.sender_id == sender, Case.sender_case_id == e.identifier_value)).scalar() if e.identifier_value else None
    m = mapping.to_report(e, patient_id, treatments, first, now.date(), bool(loaded_dictionaries(conn)), issues,
                          _registry(conn, e))
    report = m.report
    lookups = intake_sql.lookups_for(conn, intake.keys_for(sender, [report]))
    try:
        p = intake.prepare(0, report, principal, lookups, now.date())
        p.version_fields.update(m.version_extra)
        for d, extra in zip(p.drugs, m.drug_extra):
            # A reported drug's detail (dosages, code system) is intake's; the FHIR parts go beside it.
            d.update(extra, detail={**(d.get("detail") or {}), **extra["detail"]})
        # Hashed with the FHIR parts (a changed SNOMED coding is changed content), as coded, without the
        # stored-only columns (as JSON intake hashes).
        p.digest = content_hash(p.version_fields, p.drugs, [
            {k: v for k, v in r.items() if k not in intake.STORED_ONLY_REACTION_FIELDS} for r in p.reactions])
        kind = intake.decide(p, lookups.cases)
    except DomainError as exc:
        raise _issues(exc, m.paths, _versions(report, lookups)) from None
    for attempt in range(3):
        plan = intake.Plan([report], [None], [(p, kind)], lookups.cases)
        try:
            with session.begin_nested():  # the savepoint is emitted when the connection is taken inside it
                intake_sql.write_plan(session.connection(), plan, principal, now)
            break
        except IntegrityError:
            # the same case stored by a request at the same time (an EHR's resend): decided again on
            # what is stored now, so the same content is "unchanged" (200) as if sent alone
            if attempt == 2:
                raise FhirError.one(409, m.paths.root, "another report of this case was stored at the same time: "
                                                       "send it again", "conflict") from None
            lookups = intake_sql.lookups_for(session.connection(), intake.keys_for(sender, [report]))
            try:
                kind = intake.decide(p, lookups.cases)
            except DomainError as exc:
                raise _issues(exc, m.paths, _versions(report, lookups)) from None
    case = plan.state[report.sender_case_id]
    warnings = [_warning(w, m.paths) for w in p.warnings]
    if patient_id is None and principal.role == Role.clinic and e.subject.identifiers:
        # Stored, but a mistyped identifier of a registered patient would land here too: say so.
        warnings.insert(0, Issue(e.subject_path, "no patient registered at your clinic has this identifier: stored as "
                                                 "a patient the report describes (pseudonymized), not linked to a "
                                                 "registered patient or treatment", "informational", "warning"))
    return Receipt(case.case_id, report.version, kind != "unchanged", warnings)


def _versions(report, lookups) -> tuple[int, int | None]:
    case = lookups.cases.get(report.sender_case_id)
    return report.version, (case.latest if case is not None and not case.new else None)


def read_case(session: Session, principal: Principal, case_id: int, version: int | None = None) -> tuple[Any, Any, list]:
    """(case, version view, (product code, trade name, treatment batch) per drug) of a case the caller may read; NotFound otherwise."""
    case = session.exec(select(Case).where(Case.id == case_id, case_filter(principal))).first()
    if case is None:
        raise NotFound("no such AdverseEvent")
    try:
        row = session.get(CaseVersion, case.latest_version_id) if version is None else cases.get_version(session, case, version)
    except NotFound:
        raise NotFound(f"AdverseEvent {case_id} has no version {version + 1}") from None
    view = cases.describe_versions(session, {case.id: case}, [row])[0]
    # Per drug the registry's code and name, and the treatment's batch (a JSON report's drug is the treatment).
    registry = [tuple(r) for r in session.exec(
        select(Product.code, Product.trade_name, Treatment.batch_number).select_from(CaseDrug)
        .outerjoin(Product, Product.id == CaseDrug.product_id)
        .outerjoin(Treatment, Treatment.id == CaseDrug.treatment_id)
        .where(CaseDrug.case_version_id == row.id).order_by(CaseDrug.id))]
    return case, view, registry
