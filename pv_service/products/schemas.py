from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from pv_service.common.types import ApiDate, DbId
from pv_service.common.vocab import ApprovalType, Modality


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jurisdiction: str = Field(min_length=2, max_length=20, examples=["NMPA"])
    approval_date: ApiDate
    approval_type: ApprovalType
    indication: str = Field(min_length=1, max_length=500)
    source: str | None = Field(default=None, max_length=500)


class ApprovalUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approval_type: ApprovalType | None = None
    approval_date: ApiDate | None = None
    indication: str | None = Field(default=None, min_length=1, max_length=500)
    source: str | None = Field(default=None, max_length=500)


class ApprovalPublic(ApprovalIn):
    model_config = ConfigDict(from_attributes=True)
    id: int


class MilestonePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    planned_date: dt.date | None
    achieved_date: dt.date | None


class ObligationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jurisdiction: str = Field(min_length=2, max_length=20)
    description: str = Field(min_length=1, max_length=500)
    due_date: ApiDate


class ObligationPublic(ObligationIn):
    model_config = ConfigDict(from_attributes=True)
    id: int
    product_id: int
    milestones: list[MilestonePublic] = []


class ProductFields(BaseModel):
    """What identifies a product; the registry seed (products.csv) is checked against it too."""
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=2, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    inn: str = Field(min_length=1, max_length=200)
    trade_name: str = Field(min_length=1, max_length=200)
    modality: Modality
    target: str | None = Field(default=None, max_length=60)


class ProductCreate(ProductFields):
    mah_organization_id: DbId
    followup_plan: str | None = Field(default=None, max_length=60)
    approvals: list[ApprovalIn] = []


class ProductUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inn: str | None = Field(default=None, min_length=1, max_length=200)
    trade_name: str | None = Field(default=None, min_length=1, max_length=200)
    target: str | None = Field(default=None, max_length=60)
    followup_plan: str | None = Field(default=None, max_length=60)


class ProductPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    inn: str
    trade_name: str
    modality: Modality
    target: str | None
    mah_organization_id: int
    followup_plan: str | None
    approvals: list[ApprovalPublic] = []
    obligations: list[ObligationPublic] = []


class MilestoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    planned_date: ApiDate | None = None
    achieved_date: ApiDate | None = None
