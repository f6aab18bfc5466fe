from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from pv_service.core.db import UTCDateTime


class Patient(SQLModel, table=True):
    """Pseudonymous: the clinic's identifier is kept only as an HMAC, never raw."""
    __table_args__ = (sa.UniqueConstraint("clinic_id", "pseudonym", name="uq_patient_clinic_pseudonym"),)
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: int = Field(foreign_key="organization.id", index=True)
    pseudonym: str = Field(max_length=64)
    sex: str = Field(max_length=10)
    birth_year: int
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class Treatment(SQLModel, table=True):
    """One infusion of a product; a patient may have several."""
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    batch_number: str = Field(max_length=60)  # the manufacturing lot
    vector_lot: str | None = Field(default=None, max_length=60)  # lot of the viral vector, where recorded
    manufacturing_site: str | None = Field(default=None, max_length=200)
    infusion_date: dt.date = Field(index=True)
    indication: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
