"""Receiving case reports: validation, versioning and idempotent resubmission."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import insert
from sqlmodel import Session, select

from pv_service.auth.models import Organization
from pv_service.auth.principal import Principal
from pv_service.cases.hashing import content_hash
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.cases.schemas import DrugIn, ReactionPublic, ReportIn, Seriousness, VersionPublic
from pv_service.cases.validity import minimum_criteria_problems
from pv_service.common.errors import Conflict, InvalidInput, NotFound, Problems
from pv_service.common.vocab import ReporterQualification
from pv_service.patients.models import Patient, Treatment
from pv_service.patients.service import find_by_local_id
from pv_service.products.models import Product

SERIOUSNESS_FIELDS = tuple(Seriousness.model_fields)


@dataclass
class Submission:
    case: Case
    version: CaseVersion
    created: bool


def _resolve_patient(session: Session, clinic_id: int, report: ReportIn) -> Patient:
    ref = report.patient
    if ref.patient_id is not None:
        patient = session.get(Patient, ref.patient_id)
        if patient is None or patient.clinic_id != clinic_id:
            raise InvalidInput.one(("body", "patient", "patient_id"), "no patient with this id at your clinic")
        if ref.local_id is not None and find_by_local_id(session, clinic_id, ref.local_id) is not patient:
            raise InvalidInput.one(("body", "patient", "local_id"), "does not match patient_id")
        return patient
    patient = find_by_local_id(session, clinic_id, ref.local_id)
    if patient is None:
        raise InvalidInput.one(("body", "patient", "local_id"), "no patient registered with this identifier at your clinic")
    return patient


def _check_content(session: Session, report: ReportIn, patient: Patient, today: dt.date) -> dict[int, Treatment]:
    problems = Problems()
    ids = {d.treatment_id for d in report.drugs}
    treatments = {t.id: t for t in session.exec(select(Treatment).where(Treatment.id.in_(ids)))} if ids else {}
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


def _normalise(report: ReportIn, patient: Patient, sender: Organization) -> tuple[dict, list[dict], list[dict]]:
    reporter = report.reporter
    country = reporter.country or sender.country
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
    """Store one report version. Same version, same content: the stored one; different content: 409."""
    minimum_criteria_problems(report).raise_if_any()
    sender = session.get(Organization, principal.organization_id)
    patient = _resolve_patient(session, sender.id, report)
    treatments = _check_content(session, report, patient, now.date())
    version_fields, drugs, reactions = _normalise(report, patient, sender)
    digest = content_hash(version_fields, drugs, reactions)

    case = session.exec(
        select(Case).where(Case.sender_id == sender.id, Case.sender_case_id == report.sender_case_id)
    ).first()
    if case is not None:
        same = session.exec(
            select(CaseVersion).where(CaseVersion.case_id == case.id, CaseVersion.version == report.version)
        ).first()
        if same is not None:
            if same.content_hash == digest:
                return Submission(case, same, created=False)
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
    else:
        case = Case(
            sender_id=sender.id, sender_case_id=report.sender_case_id, patient_id=patient.id,
            first_received=report.received_date, latest_version=report.version, created_at=now,
        )
        session.add(case)
        session.flush()

    version = CaseVersion(
        case_id=case.id, version=report.version, content_hash=digest, submitted_by=principal.user_id,
        serious=any(any(r[f] for f in SERIOUSNESS_FIELDS) for r in reactions), created_at=now,
        **{k: v for k, v in version_fields.items() if k != "patient_id"},
    )
    session.add(version)
    session.flush()
    session.execute(insert(CaseDrug), [
        {"case_version_id": version.id, "treatment_id": d["treatment_id"], "role": d["role"],
         "product_id": treatments[d["treatment_id"]].product_id} for d in drugs
    ])
    session.execute(insert(CaseReaction), [{"case_version_id": version.id, **r} for r in reactions])
    case.latest_version = report.version
    case.latest_version_id = version.id
    session.add(case)
    session.flush()
    return Submission(case, version, created=True)


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
