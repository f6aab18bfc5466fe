"""Patients (pseudonymous) and their treatments."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from pv_service.auth.principal import Principal
from pv_service.common.errors import Conflict, InvalidInput, NotFound, Problems
from pv_service.core.settings import get_settings
from pv_service.patients.access import patient_filter, treatment_filter
from pv_service.patients.models import Patient, Treatment
from pv_service.patients.plausibility import infusion_problems
from pv_service.products.models import ProductApproval
from pv_service.patients.pseudonym import pseudonymize
from pv_service.patients.schemas import PatientCreate, TreatmentCreate
from pv_service.products.service import product_by_code


def pseudonym_for(clinic_id: int, local_id: str) -> str:
    return pseudonymize(local_id, clinic_id, get_settings().pseudonym_key)


def find_by_local_id(session: Session, clinic_id: int, local_id: str) -> Patient | None:
    return session.exec(
        select(Patient).where(Patient.clinic_id == clinic_id, Patient.pseudonym == pseudonym_for(clinic_id, local_id))
    ).first()


def register_patient(session: Session, clinic_id: int, data: PatientCreate, now: dt.datetime) -> tuple[Patient, bool]:
    """Returns (patient, created). The same local id maps to the same patient."""
    if data.birth_year > now.year:
        raise InvalidInput.one(("body", "birth_year"), f"is after the current year {now.year}")
    existing = find_by_local_id(session, clinic_id, data.local_id)
    if existing is not None:
        if (existing.sex, existing.birth_year) != (data.sex.value, data.birth_year):
            raise Conflict("this patient is registered with a different sex or year of birth")
        return existing, False
    patient = Patient(
        clinic_id=clinic_id, pseudonym=pseudonym_for(clinic_id, data.local_id),
        sex=data.sex.value, birth_year=data.birth_year, created_at=now,
    )
    session.add(patient)
    session.flush()
    return patient, True


def visible_patient(session: Session, principal: Principal, patient_id: int) -> Patient:
    patient = session.exec(select(Patient).where(Patient.id == patient_id, patient_filter(principal))).first()
    if patient is None:
        raise NotFound("no such patient")
    return patient


def visible_treatment(session: Session, principal: Principal, treatment_id: int) -> Treatment:
    row = session.exec(select(Treatment).where(Treatment.id == treatment_id, treatment_filter(principal))).first()
    if row is None:
        raise NotFound("no such treatment")
    return row


def record_treatment(session: Session, principal: Principal, data: TreatmentCreate, now: dt.datetime) -> Treatment:
    patient = session.exec(
        select(Patient).where(Patient.id == data.patient_id, Patient.clinic_id == principal.organization_id)
    ).first()
    if patient is None:
        raise InvalidInput.one(("body", "patient_id"), "no patient with this id at your clinic")
    product = product_by_code(session, data.product_code)
    if product is None:
        raise InvalidInput.one(("body", "product_code"), f"unknown product {data.product_code!r}")
    if data.infusion_date > now.date():
        raise InvalidInput.one(("body", "infusion_date"), "is in the future")
    if data.infusion_date.year < patient.birth_year:
        raise InvalidInput.one(("body", "infusion_date"), "is before the patient's year of birth")
    approvals = session.exec(select(ProductApproval.jurisdiction, ProductApproval.approval_date)
                             .where(ProductApproval.product_id == product.id)).all()
    Problems(infusion_problems(data.infusion_date, approvals)).raise_if_any()
    duplicate = session.exec(
        select(Treatment).where(
            Treatment.patient_id == patient.id, Treatment.product_id == product.id,
            Treatment.infusion_date == data.infusion_date, Treatment.batch_number == data.batch_number,
        )
    ).first()
    if duplicate is not None:
        return duplicate
    row = Treatment(
        patient_id=patient.id, product_id=product.id, batch_number=data.batch_number,
        vector_lot=data.vector_lot, manufacturing_site=data.manufacturing_site,
        infusion_date=data.infusion_date, indication=data.indication, created_at=now,
    )
    session.add(row)
    session.flush()
    return row
