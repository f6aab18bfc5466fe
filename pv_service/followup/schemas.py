from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pv_service.common.field_warnings import FieldWarning
from pv_service.common.types import DbId
from pv_service.common.vocab import (
    ContactKind,
    ScreeningResult,
    VectorTestResult,
    VitalStatus,
)


class BloodCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    anc_10e9_l: float | None = Field(default=None, ge=0, le=200, description="Absolute neutrophil count, 10^9/L")
    hemoglobin_g_dl: float | None = Field(default=None, ge=0, le=30)
    platelets_10e9_l: float | None = Field(default=None, ge=0, le=3000)
    lymphocytes_10e9_l: float | None = Field(default=None, ge=0, le=500)


class Assessments(BaseModel):
    model_config = ConfigDict(extra="forbid")
    malignancy_screening: ScreeningResult = ScreeningResult.not_done
    malignancy_detail: str | None = Field(default=None, max_length=500)
    vector_test: VectorTestResult = Field(
        default=VectorTestResult.not_done,
        description="CAR transgene persistence or replication-competent lenti/retrovirus test",
    )
    blood_counts: BloodCounts = BloodCounts()
    igg_g_l: float | None = Field(default=None, ge=0, le=100, description="Serum IgG, g/L")
    infection_since_last: bool | None = None


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    treatment_id: DbId
    kind: ContactKind = ContactKind.visit
    contact_date: dt.date
    timepoint: str | None = Field(default=None, max_length=20, pattern=r"^[A-Za-z0-9_-]+$", examples=["M3", "Y2"])
    vital_status: VitalStatus | None = None
    assessments: Assessments = Assessments()
    notes: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def consistent_vital_status(self) -> "ContactCreate":
        implied = VitalStatus.dead if self.kind == ContactKind.death else None
        if self.vital_status is None:
            self.vital_status = implied or (VitalStatus.alive if self.kind == ContactKind.visit else VitalStatus.unknown)
        elif self.kind == ContactKind.death and self.vital_status != VitalStatus.dead:
            raise ValueError("a death contact must have vital_status 'dead'")
        elif self.kind == ContactKind.visit and self.vital_status == VitalStatus.dead:
            raise ValueError("record a death with kind 'death', not as a visit")
        return self


class ContactPublic(BaseModel):
    id: int
    treatment_id: int
    kind: ContactKind
    contact_date: dt.date
    timepoint: str | None
    vital_status: VitalStatus
    assessments: Assessments
    notes: str | None
    created_at: dt.datetime


class ContactReceipt(ContactPublic):
    """The answer to a recorded contact, with what looked implausible in it."""
    warnings: list[FieldWarning] = Field(default=[], description="Stored nonetheless; see README, Plausibility")
