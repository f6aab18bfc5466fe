from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlmodel import select

from pv_service.auth.principal import ClinicPrincipal, DataReader, SessionDep
from pv_service.common.errors import InvalidInput, NotFound, check_range
from pv_service.common.pagination import Page, PageDep, paginate
from pv_service.common.types import ApiDate, DbId
from pv_service.common.vocab import Role
from pv_service.core.deps import Now
from pv_service.patients import service
from pv_service.patients.access import (
    narrow_treatments,
    patient_filter,
    treatment_filter,
)
from pv_service.patients.models import Patient, Treatment
from pv_service.patients.schemas import (
    PatientCreate,
    PatientLookup,
    PatientPublic,
    TreatmentCreate,
    TreatmentPublic,
)
from pv_service.products.models import Product

router = APIRouter(prefix="/v1", tags=["patients"])


@router.post("/patients", response_model=PatientPublic, status_code=201,
             responses={200: {"description": "Already registered: the existing patient"}})
def register_patient(session: SessionDep, principal: ClinicPrincipal, body: PatientCreate, now: Now, response: Response):
    patient, created = service.register_patient(session, principal.organization_id, body, now)
    session.commit()
    if not created:
        response.status_code = 200
    return patient


@router.get("/patients", response_model=Page[PatientPublic])
def list_patients(
    session: SessionDep, principal: DataReader, page: PageDep,
    local_id: Annotated[str | None, Query(
        min_length=1, max_length=200,
        description="Clinic only: find your patient by your own identifier. Prefer POST /v1/patients/lookup: "
                    "a URL is written into access logs (this service redacts it in its own)")] = None,
    clinic_id: DbId | None = None,
    product: Annotated[str | None, Query(description="Product code: patients treated with it")] = None,
):
    stmt = select(Patient).where(patient_filter(principal))
    if local_id is not None:
        if principal.role != Role.clinic:
            raise InvalidInput.one(("query", "local_id"), "only a clinic can look up its own identifiers")
        stmt = stmt.where(Patient.pseudonym == service.pseudonym_for(principal.organization_id, local_id))
    if clinic_id is not None:
        stmt = stmt.where(Patient.clinic_id == clinic_id)
    if product is not None:
        # Among the treatments the caller may see: an MAH cannot learn who else got another MAH's product.
        stmt = stmt.where(Patient.id.in_(
            select(Treatment.patient_id).join(Product, Product.id == Treatment.product_id)
            .where(Product.code == product, treatment_filter(principal))
        ))
    items, cursor = paginate(session, stmt, Patient.id, page)
    return Page(items=items, next_cursor=cursor)


@router.post("/patients/lookup", response_model=PatientPublic, responses={404: {"description": "No such patient"}})
def lookup_patient(session: SessionDep, principal: ClinicPrincipal, body: PatientLookup):
    """Your patient by your own identifier, sent in the body so that it stays out of every URL and log."""
    patient = service.find_by_local_id(session, principal.organization_id, body.local_id)
    if patient is None:
        raise NotFound("no patient registered with this identifier at your clinic")
    return patient


@router.get("/patients/{patient_id}", response_model=PatientPublic)
def get_patient(session: SessionDep, principal: DataReader, patient_id: DbId):
    return service.visible_patient(session, principal, patient_id)


@router.post("/treatments", response_model=TreatmentPublic, status_code=201)
def record_treatment(session: SessionDep, principal: ClinicPrincipal, body: TreatmentCreate, now: Now):
    row = service.record_treatment(session, principal, body, now)
    session.commit()
    return row


@router.get("/treatments", response_model=Page[TreatmentPublic])
def list_treatments(
    session: SessionDep, principal: DataReader, page: PageDep,
    patient_id: DbId | None = None,
    product: Annotated[str | None, Query(description="Product code")] = None,
    clinic_id: DbId | None = None,
    infused_from: ApiDate | None = None,
    infused_to: ApiDate | None = None,
):
    stmt = select(Treatment).where(treatment_filter(principal))
    stmt = narrow_treatments(stmt, patient_id=patient_id, product_code=product, clinic_id=clinic_id)
    check_range(infused_from, infused_to, "infused_from", "infused_to")
    if infused_from is not None:
        stmt = stmt.where(Treatment.infusion_date >= infused_from)
    if infused_to is not None:
        stmt = stmt.where(Treatment.infusion_date <= infused_to)
    items, cursor = paginate(session, stmt, Treatment.id, page)
    return Page(items=items, next_cursor=cursor)


@router.get("/treatments/{treatment_id}", response_model=TreatmentPublic)
def get_treatment(session: SessionDep, principal: DataReader, treatment_id: DbId):
    return service.visible_treatment(session, principal, treatment_id)
