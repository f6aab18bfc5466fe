from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import select

from pv_service.auth.principal import ClinicPrincipal, DataReader, SessionDep
from pv_service.common.pagination import Page, PageDep, paginate
from pv_service.common.errors import check_range
from pv_service.common.field_warnings import as_warnings
from pv_service.common.types import ApiDate, DbId
from pv_service.common.vocab import ContactKind
from pv_service.core.deps import Now
from pv_service.followup import service
from pv_service.followup.models import FollowupContact
from pv_service.followup.schemas import ContactCreate, ContactPublic, ContactReceipt
from pv_service.patients.access import narrow_treatments, treatment_filter
from pv_service.patients.models import Treatment

router = APIRouter(prefix="/v1/followup-contacts", tags=["follow-up"])


@router.post("", response_model=ContactReceipt, status_code=201)
def record_contact(session: SessionDep, principal: ClinicPrincipal, body: ContactCreate, now: Now):
    row, warnings = service.record_contact(session, principal, body, now)
    session.commit()
    return ContactReceipt(**dict(service.to_public(row)), warnings=as_warnings(warnings))


@router.get("", response_model=Page[ContactPublic])
def list_contacts(
    session: SessionDep, principal: DataReader, page: PageDep,
    treatment_id: DbId | None = None,
    patient_id: DbId | None = None,
    product: Annotated[str | None, Query(description="Product code")] = None,
    clinic_id: DbId | None = None,
    kind: ContactKind | None = None,
    date_from: ApiDate | None = None,
    date_to: ApiDate | None = None,
):
    stmt = select(FollowupContact).join(Treatment, Treatment.id == FollowupContact.treatment_id).where(
        treatment_filter(principal)
    )
    if treatment_id is not None:
        stmt = stmt.where(FollowupContact.treatment_id == treatment_id)
    stmt = narrow_treatments(stmt, patient_id=patient_id, product_code=product, clinic_id=clinic_id)
    if kind is not None:
        stmt = stmt.where(FollowupContact.kind == kind.value)
    check_range(date_from, date_to, "date_from", "date_to")
    if date_from is not None:
        stmt = stmt.where(FollowupContact.contact_date >= date_from)
    if date_to is not None:
        stmt = stmt.where(FollowupContact.contact_date <= date_to)
    items, cursor = paginate(session, stmt, FollowupContact.id, page)
    return Page(items=[service.to_public(r) for r in items], next_cursor=cursor)


@router.get("/{contact_id}", response_model=ContactPublic)
def get_contact(session: SessionDep, principal: DataReader, contact_id: DbId):
    return service.to_public(service.visible_contact(session, principal, contact_id))
