"""Receiving case reports: validation, versioning and idempotent resubmission."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, select

from pv_service.audit import chain as audit
from pv_service.auth.principal import Principal
from pv_service.cases.hashing import content_hash
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.cases.schemas import (
    CasePublic,
    DrugIn,
    ReactionPublic,
    ReportIn,
    Seriousness,
    VersionPublic,
)
from pv_service.cases.validity import minimum_criteria_problems
from pv_service.common.errors import Conflict, InvalidInput, NotFound, Problems
from pv_service.common.vocab import ReporterQualification
from pv_service.patients.models import Patient, Treatment
from pv_service.patients.service import find_by_local_id
from pv_service.products.models import Product

SERIOUSNESS_FIELDS = tuple(Seriousness.model_fields)


@dataclass
class Submission:
    case_id: int
    version: int
    created: bool
    # The public view, built from memory for a new version (saves re-reading it).
    view: CasePublic | None = None


@dataclass(frozen=True)
class _Patient:
    id: int
    birth_year: int


def _resolve_patient(session: Session, clinic_id: int, report: ReportIn) -> _Patient:
    ref = report.patient
    if ref.patient_id is not None:
        row = session.execute(
            select(Patient.id, Patient.clinic_id, Patient.birth_year).where(Patient.id == ref.patient_id)
        ).first()
        if row is None or row.clinic_id != clinic_id:
            raise InvalidInput.one(("body", "patient", "patient_id"), "no patient with this id at your clinic")
        if ref.local_id is not None:
            by_local = find_by_local_id(session, clinic_id, ref.local_id)
            if by_local is None or by_local.id != row.id:
                raise InvalidInput.one(("body", "patient", "local_id"), "does not match patient_id")
        return _Patient(row.id, row.birth_year)
    patient = find_by_local_id(session, clinic_id, ref.local_id)
    if patient is None:
        raise InvalidInput.one(("body", "patient", "local_id"), "no patient registered with this identifier at your clinic")
    return _Patient(patient.id, patient.birth_year)


def _check_content(session: Session, report: ReportIn, patient: _Patient, today: dt.date) -> dict[int, Any]:
    """Cross-field and cross-record checks; returns the named treatments with their product codes."""
    problems = Problems()
    ids = {d.treatment_id for d in report.drugs}
    treatments = {}
    if ids:
        treatments = {r.id: r for r in session.execute(
            select(Treatment.id, Treatment.patient_id, Treatment.product_id, Product.code)
            .join(Product, Product.id == Treatment.product_id).where(Treatment.id.in_(ids))
        )}
    for i, drug in enumerate(report.drugs):
        t = treatments.get(drug.treatment_id)
        if t is None:
            problems.add(("body", "drugs", i, "treatment_id"), "no such treatment")
        elif t.patient_id != patient.id:
            problems.add(("body", "drugs", i, "treatment_id"), "belongs to another patient")
    if len(ids) != len(report.drugs):
        problems.add(("body", "drugs"), "lists the same treatment twice")
    latest_info = report.latest_info_date or report.received_date
    if report.received_date > today:
        problems.add(("body", "received_date"), "is in the future")
    if latest_info < report.received_date:
        problems.add(("body", "latest_info_date"), "is before received_date")
    if latest_info > today:
        problems.add(("body", "latest_info_date"), "is in the future")
    born = dt.date(patient.birth_year, 1, 1)
    for i, reaction in enumerate(report.reactions):
        onset = reaction.onset_date
        if onset is None:
            continue
        if onset > today:
            problems.add(("body", "reactions", i, "onset_date"), "is in the future")
        elif onset > latest_info:
            problems.add(("body", "reactions", i, "onset_date"), "is after the report's latest information date")
        if onset < born:
            problems.add(("body", "reactions", i, "onset_date"), f"is before the patient's year of birth {patient.birth_year}")
    problems.raise_if_any()
    return treatments


def _normalise(report: ReportIn, patient: _Patient, sender_country: str | None) -> tuple[dict, list[dict], list[dict]]:
    reporter = report.reporter
    country = reporter.country or sender_country
    if country is None:
        raise InvalidInput.one(("body", "reporter", "country"), "required: the sender organization has no country")
    version_fields = {
        "patient_id": patient.id,
        "report_type": report.report_type.value,
        "received_date": report.received_date,
        "latest_info_date": report.latest_info_date or report.received_date,
        "reporter_qualification": (reporter.qualification or ReporterQualification.consumer).value,
        "reporter_country": country,
        "narrative": report.narrative,
        "transgene_in_tumour": report.transgene_in_tumour.value if report.transgene_in_tumour else None,
    }
    drugs = [{"treatment_id": d.treatment_id, "role": d.role.value} for d in report.drugs]
    reactions = []
    for r in report.reactions:
        row = r.model_dump(mode="python", exclude={"seriousness"})
        row.update(r.seriousness.model_dump())
        for key in ("outcome", "grade_scale", "causality"):
            row[key] = row[key].value if row[key] is not None else None
        reactions.append(row)
    return version_fields, drugs, reactions


def submit_report(session: Session, principal: Principal, report: ReportIn, now: dt.datetime) -> Submission:
    """Store one report version. Same version, same content: the stored one; different content: 409.

    Hot path of intake: Core statements, no ORM unit of work.
    """
    minimum_criteria_problems(report).raise_if_any()
    sender_id = principal.organization_id
    patient = _resolve_patient(session, sender_id, report)
    treatments = _check_content(session, report, patient, now.date())
    version_fields, drugs, reactions = _normalise(report, patient, principal.organization_country)
    digest = content_hash(version_fields, drugs, reactions)
    conn = session.connection()  # Core on the session's transaction: no ORM overhead per statement

    case = conn.execute(
        select(Case.id, Case.patient_id, Case.first_received, Case.latest_version)
        .where(Case.sender_id == sender_id, Case.sender_case_id == report.sender_case_id)
    ).first()
    if case is not None:
        same = conn.execute(
            select(CaseVersion.content_hash).where(CaseVersion.case_id == case.id, CaseVersion.version == report.version)
        ).first()
        if same is not None:
            if same.content_hash == digest:
                return Submission(case.id, report.version, created=False)
            raise Conflict(f"version {report.version} of case {report.sender_case_id!r} was already received with different content")
        if report.version < case.latest_version:
            raise Conflict(f"version {report.version} is older than the latest version {case.latest_version}; send a new version")
        if case.patient_id != patient.id:
            raise InvalidInput.one(("body", "patient"), "this case was first reported for another patient")
        if report.received_date != case.first_received:
            raise InvalidInput.one(
                ("body", "received_date"),
                f"a follow-up keeps the first receipt date of the case ({case.first_received.isoformat()})",
            )
        case_id, first_received = case.id, case.first_received
        versions = [v for (v,) in conn.execute(select(CaseVersion.version).where(CaseVersion.case_id == case_id))]
    else:
        case_id = conn.execute(insert(Case.__table__).values(
            sender_id=sender_id, sender_case_id=report.sender_case_id, patient_id=patient.id,
            first_received=report.received_date, latest_version=report.version, created_at=now,
        ).returning(Case.__table__.c.id)).scalar_one()
        first_received, versions = report.received_date, []

    serious = any(any(r[f] for f in SERIOUSNESS_FIELDS) for r in reactions)
    stored = {k: v for k, v in version_fields.items() if k != "patient_id"}
    version_id = conn.execute(insert(CaseVersion.__table__).values(
        case_id=case_id, version=report.version, content_hash=digest, submitted_by=principal.user_id,
        serious=serious, created_at=now, **stored,
    ).returning(CaseVersion.__table__.c.id)).scalar_one()
    conn.execute(insert(CaseDrug.__table__), [
        {"case_version_id": version_id, "treatment_id": d["treatment_id"], "role": d["role"],
         "product_id": treatments[d["treatment_id"]].product_id} for d in drugs
    ])
    conn.execute(insert(CaseReaction.__table__), [{"case_version_id": version_id, **r} for r in reactions])
    conn.execute(update(Case.__table__).where(Case.id == case_id).values(latest_version=report.version, latest_version_id=version_id))
    audit.record(session, actor_id=principal.user_id, actor=principal.username, entity_type="report", entity_id=case_id,
                 action="version_received", before={"latest_version": versions[-1] if versions else None},
                 after={"version": report.version, "content_hash": digest, "serious": serious}, now=now)

    latest = VersionPublic(
        case_id=case_id, sender_case_id=report.sender_case_id, version=report.version, is_latest=True,
        serious=serious, created_at=now, drugs=report.drugs,
        product_codes=sorted({treatments[d["treatment_id"]].code for d in drugs}),
        reactions=[ReactionPublic.model_validate(r.model_dump()) for r in report.reactions],
        **version_fields,
    )
    view = CasePublic(
        id=case_id, sender_id=sender_id, sender_case_id=report.sender_case_id, patient_id=patient.id,
        first_received=first_received, latest_version=report.version, versions=sorted(versions + [report.version]),
        latest=latest,
    )
    return Submission(case_id, report.version, created=True, view=view)


def describe_versions(session: Session, cases: dict[int, Case], versions: list[CaseVersion]) -> list[VersionPublic]:
    """Public views of versions, loading their drugs and reactions in two queries."""
    ids = [v.id for v in versions]
    if not ids:
        return []
    drugs: dict[int, list[tuple[CaseDrug, str]]] = defaultdict(list)
    for drug, code in session.exec(
        select(CaseDrug, Product.code).join(Product, Product.id == CaseDrug.product_id)
        .where(CaseDrug.case_version_id.in_(ids)).order_by(CaseDrug.id)
    ):
        drugs[drug.case_version_id].append((drug, code))
    reactions: dict[int, list[CaseReaction]] = defaultdict(list)
    for r in session.exec(select(CaseReaction).where(CaseReaction.case_version_id.in_(ids)).order_by(CaseReaction.id)):
        reactions[r.case_version_id].append(r)
    out = []
    for v in versions:
        case = cases[v.case_id]
        out.append(VersionPublic(
            case_id=case.id, sender_case_id=case.sender_case_id, version=v.version,
            is_latest=case.latest_version_id == v.id, report_type=v.report_type, received_date=v.received_date,
            latest_info_date=v.latest_info_date, reporter_qualification=v.reporter_qualification,
            reporter_country=v.reporter_country, patient_id=case.patient_id, serious=v.serious,
            drugs=[DrugIn(treatment_id=d.treatment_id, role=d.role) for d, _ in drugs[v.id]],
            product_codes=sorted({code for _, code in drugs[v.id]}),
            reactions=[
                ReactionPublic(
                    meddra_version=r.meddra_version, pt_code=r.pt_code, pt_name=r.pt_name, llt_code=r.llt_code,
                    llt_name=r.llt_name, onset_date=r.onset_date, outcome=r.outcome, grade=r.grade,
                    grade_scale=r.grade_scale, causality=r.causality,
                    seriousness=Seriousness(**{f: getattr(r, f) for f in SERIOUSNESS_FIELDS}),
                ) for r in reactions[v.id]
            ],
            narrative=v.narrative, transgene_in_tumour=v.transgene_in_tumour, created_at=v.created_at,
        ))
    return out


def versions_of(session: Session, case_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    if case_ids:
        for case_id, number in session.exec(
            select(CaseVersion.case_id, CaseVersion.version).where(CaseVersion.case_id.in_(case_ids)).order_by(CaseVersion.version)
        ):
            out[case_id].append(number)
    return out


def get_version(session: Session, case: Case, number: int) -> CaseVersion:
    row = session.exec(select(CaseVersion).where(CaseVersion.case_id == case.id, CaseVersion.version == number)).first()
    if row is None:
        raise NotFound(f"case has no version {number}")
    return row
