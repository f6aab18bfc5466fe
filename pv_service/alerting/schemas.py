from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from pv_service.alerting.workflow import Action
from pv_service.common.finite import JSONObject
from pv_service.common.types import DbId


class AlertPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    key: str
    type: str
    status: str
    severity: str
    priority: float
    title: str
    subject_type: str
    subject_id: int | None
    product_id: int | None
    detail: JSONObject
    assignee_id: int | None
    first_raised_at: dt.datetime
    last_seen_at: dt.datetime
    resolved_at: dt.datetime | None
    resolution: str | None


class AlertEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: dt.datetime
    actor: str
    kind: str
    from_status: str | None
    to_status: str | None
    action: str | None
    comment: str | None


class AlertDetail(AlertPublic):
    events: list[AlertEventPublic]
    next_steps: list[str]


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=20, description="The next status")
    comment: str = Field(min_length=1, max_length=4000, description="Why (recorded in the audit trail)")
    action: Action | None = Field(default=None, description="When closing a signal: the recommended action")


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee_id: DbId | None


class StatusCount(BaseModel):
    type: str
    status: str
    count: int
