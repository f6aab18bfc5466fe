"""Reading case reports: public views of versions. (Receiving them: cases/intake.py.)"""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlmodel import Session, select

from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.cases.schemas import (
    DrugPublic,
    PatientDescription,
    ReactionPublic,
    Seriousness,
    VersionPublic,
)
from pv_service.common.errors import NotFound
from pv_service.products.models import Product

SERIOUSNESS_FIELDS = tuple(Seriousness.model_fields)


def describe_versions(session: Session, cases: dict[int, Case], versions: list[CaseVersion]) -> list[VersionPublic]:
    """Public views of versions, loading their drugs and reactions in two queries."""
    ids = [v.id for v in versions]
    if not ids:
        return []
    # Rows, not ORM objects: a view of thousands of versions (an E2B export) spends its time building them.
    drugs: dict[int, list[tuple]] = defaultdict(list)
    for row in session.execute(
        sa.select(*CaseDrug.__table__.c, Product.code.label("registry_code"))
        .outerjoin(Product, Product.id == CaseDrug.product_id)
        .where(CaseDrug.case_version_id.in_(ids)).order_by(CaseDrug.id)
    ):
        drugs[row.case_version_id].append((row, row.registry_code))
    reactions: dict[int, list] = defaultdict(list)
    for r in session.execute(sa.select(*CaseReaction.__table__.c).where(CaseReaction.case_version_id.in_(ids))
                             .order_by(CaseReaction.id)):
        reactions[r.case_version_id].append(r._mapping)
    out = []
    for v in versions:
        case = cases[v.case_id]
        out.append(VersionPublic(
            case_id=case.id, sender_case_id=case.sender_case_id, version=v.version,
            is_latest=case.latest_version_id == v.id, report_type=v.report_type, received_date=v.received_date,
            latest_info_date=v.latest_info_date, reporter_qualification=v.reporter_qualification,
            reporter_country=v.reporter_country, patient_id=case.patient_id, serious=v.serious,
            drugs=[drug_public(d) for d, _ in drugs[v.id]],
            product_codes=sorted({code for _, code in drugs[v.id] if code}),
            reactions=[ReactionPublic.from_row(r) for r in reactions[v.id]],
            narrative=v.narrative, transgene_in_tumour=v.transgene_in_tumour, created_at=v.created_at,
            **e2b_fields(v),
        ))
    return out


def drug_public(d) -> DrugPublic:
    """A stored drug (a CaseDrug or a case_drug row)."""
    return DrugPublic(treatment_id=d.treatment_id, role=d.role, product_id=d.product_id, name_as_reported=d.name_as_reported,
                      reported_product_code=d.product_code, authorisation_number=d.authorisation_number,
                      holder=d.holder, batch_lot=d.batch_lot, action_taken=d.action_taken, detail=d.detail)


def e2b_fields(v: CaseVersion) -> dict:
    """The fields a JSON report leaves empty (an E2B import fills them)."""
    described = v.patient_pseudonym or v.patient_sex or v.patient_age is not None or v.patient_birth_year
    patient = PatientDescription(
        pseudonym=v.patient_pseudonym, sex=v.patient_sex, birth_year=v.patient_birth_year, age=v.patient_age,
        age_unit=v.patient_age_unit, age_group=v.patient_age_group, weight_kg=v.patient_weight_kg,
        height_cm=v.patient_height_cm, death_date=v.patient_death_date) if described or v.patient_age_group else None
    return dict(source_format=v.source_format, safety_report_id=v.safety_report_id, worldwide_id=v.worldwide_id,
                message_id=v.message_id, nullification=v.nullification, nullification_reason=v.nullification_reason,
                patient=patient, reporter_comments=v.reporter_comments, sender_comments=v.sender_comments,
                detail=v.detail)


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
