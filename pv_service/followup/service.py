"""Follow-up contacts: visits and outcomes that are not visits."""
from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlmodel import Session, select

from pv_service.auth.principal import Principal
from pv_service.common.errors import Conflict, FieldProblem, InvalidInput, NotFound, Problems
from pv_service.common.vocab import ContactKind
from pv_service.followup.models import FollowupContact
from pv_service.followup.schemas import (
    Assessments,
    BloodCounts,
    ContactCreate,
    ContactPublic,
)
from pv_service.patients.access import treatment_filter
from pv_service.followup.plausibility import timepoint_check
from pv_service.followup.schedule import build_schedule
from pv_service.patients.models import Patient, Treatment
from pv_service.products.models import Product

# How far ahead the schedule is built to recognise a visit's label (lifelong contacts: Y16, Y17, ...).
LABEL_HORIZON_YEARS = 100

ENDING_KINDS = {ContactKind.death.value, ContactKind.withdrawal.value, ContactKind.transfer.value}


def to_public(row: FollowupContact) -> ContactPublic:
    return ContactPublic(
        id=row.id, treatment_id=row.treatment_id, kind=row.kind, contact_date=row.contact_date,
        timepoint=row.timepoint, vital_status=row.vital_status, notes=row.notes, created_at=row.created_at,
        assessments=Assessments(
            malignancy_screening=row.malignancy_screening, malignancy_detail=row.malignancy_detail,
            vector_test=row.vector_test, igg_g_l=row.igg_g_l, infection_since_last=row.infection_since_last,
            blood_counts=BloodCounts(
                anc_10e9_l=row.anc_10e9_l, hemoglobin_g_dl=row.hemoglobin_g_dl,
                platelets_10e9_l=row.platelets_10e9_l, lymphocytes_10e9_l=row.lymphocytes_10e9_l,
            ),
        ),
    )


def timepoint_findings(session: Session, treatment: Treatment, label: str,
                       contact_date: dt.date) -> tuple[list[FieldProblem], list[FieldProblem]]:
    """(problems, warnings) of a visit's timepoint label, on the treatment's plan (followup.plausibility)."""
    from pv_service.jobs.definitions import current_rules

    rules = current_rules().followup
    product = session.get(Product, treatment.product_id)
    try:
        plan = rules.plan_for(product.modality, product.followup_plan)
    except KeyError:  # a product without a usable plan has no timepoints to judge against
        return [], []
    horizon = contact_date.replace(year=contact_date.year + LABEL_HORIZON_YEARS, day=min(contact_date.day, 28))
    frame = pd.DataFrame({"treatment_id": [treatment.id], "plan": [plan], "infusion_date": [treatment.infusion_date]})
    lifelong = rules.plans[plan].lifelong_contact
    return timepoint_check(label, contact_date, build_schedule(frame, rules, horizon), plan,
                           tuple(tp.label for tp in rules.plans[plan].timepoints), lifelong.label if lifelong else None)


def record_contact(session: Session, principal: Principal, data: ContactCreate,
                   now: dt.datetime) -> tuple[FollowupContact, list[FieldProblem]]:
    """The stored contact and the warnings about it (implausible but stored)."""
    treatment = session.exec(
        select(Treatment).join(Patient, Patient.id == Treatment.patient_id).where(
            Treatment.id == data.treatment_id, Patient.clinic_id == principal.organization_id
        )
    ).first()
    if treatment is None:
        raise InvalidInput.one(("body", "treatment_id"), "no treatment with this id at your clinic")
    if data.contact_date > now.date():
        raise InvalidInput.one(("body", "contact_date"), "is in the future")
    if data.contact_date < treatment.infusion_date:
        raise InvalidInput.one(
            ("body", "contact_date"), f"is before the infusion on {treatment.infusion_date.isoformat()}"
        )
    warnings: list[FieldProblem] = []
    if data.timepoint is not None:
        problems, warnings = timepoint_findings(session, treatment, data.timepoint, data.contact_date)
        Problems(problems).raise_if_any()
        if data.kind != ContactKind.visit:  # the compliance engine reads labels of visits only
            warnings = [FieldProblem(("body", "timepoint"), f"only a visit fulfils a timepoint: kept on this "
                                     f"{data.kind.value} contact, not counted", "not_a_visit")]
    ended = session.exec(
        select(FollowupContact).where(
            FollowupContact.treatment_id == treatment.id,
            FollowupContact.kind == ContactKind.death.value,
        )
    ).first()
    if ended is not None and data.contact_date > ended.contact_date and data.kind == ContactKind.visit:
        raise Conflict(f"the patient's death was recorded on {ended.contact_date.isoformat()}")
    a = data.assessments
    row = FollowupContact(
        treatment_id=treatment.id, kind=data.kind.value, contact_date=data.contact_date, timepoint=data.timepoint,
        vital_status=data.vital_status.value, malignancy_screening=a.malignancy_screening.value,
        malignancy_detail=a.malignancy_detail, vector_test=a.vector_test.value,
        igg_g_l=a.igg_g_l, infection_since_last=a.infection_since_last, notes=data.notes,
        created_by=principal.user_id, created_at=now, **a.blood_counts.model_dump(),
    )
    session.add(row)
    session.flush()
    return row, warnings


def visible_contact(session: Session, principal: Principal, contact_id: int) -> FollowupContact:
    row = session.exec(
        select(FollowupContact).join(Treatment, Treatment.id == FollowupContact.treatment_id).where(
            FollowupContact.id == contact_id, treatment_filter(principal)
        )
    ).first()
    if row is None:
        raise NotFound("no such follow-up contact")
    return row
