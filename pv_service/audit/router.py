from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict
from sqlmodel import select

from pv_service.audit.head import verify_against_exported
from pv_service.audit.models import AuditRecord
from pv_service.auth.principal import Principal, SessionDep, require
from pv_service.common.pagination import Page, PageDep, paginate
from pv_service.common.types import DbId
from pv_service.common.vocab import Role

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Auditor = Annotated[Principal, Depends(require(Role.safety_officer, Role.admin))]


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    seq: int | None
    at: dt.datetime
    actor: str
    entity_type: str
    entity_id: DbId
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str | None
    hash: str | None


class VerificationOut(BaseModel):
    ok: bool
    checked: int
    unsealed: int
    first_bad_seq: int | None
    reason: str | None
    head_seq: int | None


@router.get("", response_model=Page[AuditPublic])
def list_audit(session: SessionDep, _: Auditor, page: PageDep,
               entity_type: Annotated[str | None, Query(examples=["alert", "report", "user"])] = None,
               entity_id: DbId | None = None):
    stmt = select(AuditRecord)
    if entity_type is not None:
        stmt = stmt.where(AuditRecord.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditRecord.entity_id == entity_id)
    items, cursor = paginate(session, stmt, AuditRecord.id, page)
    return Page(items=items, next_cursor=cursor)


@router.get("/verify", response_model=VerificationOut)
def verify_chain(session: SessionDep, _: Auditor):
    """Recompute the keyed hash chain and check it reaches the exported head (read-only)."""
    return VerificationOut(**verify_against_exported(session).__dict__)
