"""Which patients and treatments a caller may see: one place for the tenant rules."""
from __future__ import annotations

import sqlalchemy as sa

from pv_service.auth.principal import Principal
from pv_service.common.vocab import Role
from pv_service.patients.models import Patient, Treatment
from pv_service.products.models import Product


def mah_product_ids(principal: Principal):
    return sa.select(Product.id).where(Product.mah_organization_id == principal.organization_id)


def patient_filter(principal: Principal):
    """A WHERE clause on Patient for what `principal` may read."""
    if principal.role == Role.clinic:
        return Patient.clinic_id == principal.organization_id
    if principal.role == Role.mah:
        return Patient.id.in_(sa.select(Treatment.patient_id).where(Treatment.product_id.in_(mah_product_ids(principal))))
    if principal.role == Role.safety_officer:
        return sa.true()
    return sa.false()


def treatment_filter(principal: Principal):
    """A WHERE clause on Treatment for what `principal` may read."""
    if principal.role == Role.clinic:
        return Treatment.patient_id.in_(sa.select(Patient.id).where(Patient.clinic_id == principal.organization_id))
    if principal.role == Role.mah:
        return Treatment.product_id.in_(mah_product_ids(principal))
    if principal.role == Role.safety_officer:
        return sa.true()
    return sa.false()


def narrow_treatments(stmt, *, patient_id=None, product_code=None, clinic_id=None):
    """The list filters treatments and their follow-up contacts share (each applied when given)."""
    if patient_id is not None:
        stmt = stmt.where(Treatment.patient_id == patient_id)
    if product_code is not None:
        stmt = stmt.where(Treatment.product_id.in_(sa.select(Product.id).where(Product.code == product_code)))
    if clinic_id is not None:
        stmt = stmt.where(Treatment.patient_id.in_(sa.select(Patient.id).where(Patient.clinic_id == clinic_id)))
    return stmt
