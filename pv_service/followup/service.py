"""Follow-up contacts: visits and outcomes that are not visits."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from pv_service.auth.principal import Principal
from pv_service.common.errors import Conflict, InvalidInput, NotFound
from pv_service.common.vocab import ContactKind
from pv_service.followup.models import FollowupContact
from pv_service.followup.schemas import (
    Assessments,
    BloodCounts,
    ContactCreate,
    ContactPublic,
)
from pv_service.patients.access import treatment_filter
from pv_service.patients.models import Patient, Treatment

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


def record_contact(session: Session, principal: Principal, data: ContactCreate, now: dt.datetime) -> FollowupContact:
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
    return row


def visible_contact(session: Session, principal: Principal, contact_id: int) -> FollowupContact:
    row = session.exec(
        select(FollowupContact).join(Treatment, Treatment.id == FollowupContact.treatment_id).where(
            FollowupContact.id == contact_id, treatment_filter(principal)
        )
    ).first()
    if row is None:
        raise NotFound("no such follow-up contact")
    return row
