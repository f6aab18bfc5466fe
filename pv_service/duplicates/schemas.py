from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from pv_service.common.types import DbId


class MemberPublic(BaseModel):
    """One case of a cluster, its compared fields side by side with the others'."""
    case_id: int
    sender_id: int
    sender_case_id: str
    worldwide_id: str | None
    first_received: dt.date
    latest_version: int
    is_master: bool
    duplicate_of: int | None = Field(description="Its master, once confirmed")
    fields: dict[str, str | int | None] = Field(description="sex, birth_year, age_group, onset_date, "
                                                            "received_date, country, pts, products, batch, "
                                                            "qualification, clinic_id")


class PairPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    case_a: int
    case_b: int
    method: str = Field(description="worldwide_id, other_identifier, content_hash or linkage")
    score: float = Field(description="Match probability (1 for an identifier rule)")
    status: str
    detail: dict = Field(description="The shared identifier, or each compared field's match weight")


class ClusterPublic(BaseModel):
    id: int
    status: str = Field(description="pending, confirmed or rejected")
    score: float
    master_case_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    decided_by: int | None
    decided_at: dt.datetime | None
    comment: str | None
    agree: list[str] = Field(description="Fields every member has the same (non-empty) value of")
    disagree: list[str] = Field(description="Fields the members differ on")
    references: list[str] = Field(description="Every case reference the master keeps: its own and its duplicates'")
    members: list[MemberPublic]
    pairs: list[PairPublic]


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    master_case_id: DbId | None = Field(default=None, description="A member; by default the first received")
    comment: str | None = Field(default=None, max_length=2000)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(default=None, max_length=2000)
