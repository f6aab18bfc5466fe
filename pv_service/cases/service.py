"""Reading case reports: public views of versions. (Receiving them: cases/intake.py.)"""
from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session, select

from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.cases.schemas import (
    DrugIn,
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
            reactions=[ReactionPublic.from_row(r.__dict__) for r in reactions[v.id]],
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
