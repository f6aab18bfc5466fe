from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from pv_service.common.types import ApiDate, DbId
from pv_service.common.vocab import Sex


class PatientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    local_id: str = Field(
        min_length=1, max_length=200,
        description="The clinic's own patient identifier; stored only as a keyed hash",
    )
    sex: Sex
    birth_year: int = Field(ge=1900, description="Year of birth (never the full date)")


class PatientLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    local_id: str = Field(min_length=1, max_length=200, description="The clinic's own patient identifier")


class PatientPublic(BaseModel):
    """Pseudonymous view: no identifier a person could be traced back by."""
    model_config = ConfigDict(from_attributes=True)
    id: int
    clinic_id: int
    sex: Sex
    birth_year: int
    created_at: dt.datetime


class TreatmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: DbId
    product_code: str = Field(min_length=1, max_length=40)
    batch_number: str = Field(min_length=1, max_length=60, description="Batch/lot (chain of identity)")
    vector_lot: str | None = Field(default=None, min_length=1, max_length=60,
                                   description="Lot of the viral vector used to make the batch, where recorded")
    manufacturing_site: str | None = Field(default=None, min_length=1, max_length=200,
                                           description="Site that manufactured the batch, where recorded")
    infusion_date: ApiDate
    indication: str | None = Field(default=None, max_length=500)


class TreatmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    product_id: int
    batch_number: str
    vector_lot: str | None = None
    manufacturing_site: str | None = None
    infusion_date: dt.date
    indication: str | None
    created_at: dt.datetime
