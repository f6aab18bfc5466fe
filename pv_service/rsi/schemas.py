from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pv_service.common.types import ApiDate


class RsiTermIn(BaseModel):
    """A labelled event by MedDRA code: a PT, every PT under an HLT, or an SMQ's narrow (or broad) terms."""
    model_config = ConfigDict(extra="forbid")
    kind: Literal["pt", "hlt", "smq"]
    code: str = Field(min_length=1, max_length=20, pattern=r"^[0-9A-Za-z_-]+$", examples=["96000001"])
    scope: Literal["narrow", "broad"] | None = Field(default=None, description="SMQ only (default narrow)")
    name: str | None = Field(default=None, max_length=250, description="For display only: the code decides")

    @model_validator(mode="after")
    def _scope(self) -> "RsiTermIn":
        if self.kind != "smq" and self.scope is not None:
            raise ValueError("scope applies to smq terms only")
        return self


class RsiVersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jurisdiction: str = Field(min_length=2, max_length=20, examples=["FDA"],
                              description="As the product's approvals name it (FDA, NMPA, EMA)")
    document: str | None = Field(default=None, min_length=1, max_length=40,
                                 description="US PI, China label, EU SmPC (default from the jurisdiction)")
    version_label: str = Field(min_length=1, max_length=100, examples=["Revised 06/2024"])
    effective_from: ApiDate
    source: str = Field(min_length=1, max_length=500, description="Where the label was read")
    terms: list[RsiTermIn] = Field(min_length=1, max_length=2000)


class RsiTermPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: str
    code: str
    scope: str | None
    name: str | None


class RsiVersionPublic(BaseModel):
    id: int
    product_id: int
    product_code: str
    jurisdiction: str
    document: str
    version_label: str
    effective_from: dt.date
    effective_until: dt.date | None = Field(description="The day before the next version takes over; null: current")
    source: str
    created_at: dt.datetime
    terms: list[RsiTermPublic]


class ExpectednessPublic(BaseModel):
    version: int
    reaction_id: int
    pt_code: str
    pt_name: str
    jurisdiction: str
    expectedness: Literal["listed", "unlisted", "no_label"]
    rsi_version_id: int | None
    label: str | None = Field(description="The label version judged against, e.g. 'US PI Revised 06/2024'")
    matched: str | None = Field(description="The label term that lists the reaction")
    assessed_at: dt.datetime
