from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from pv_service.core.db import UTCDateTime


class AuditRecord(SQLModel, table=True):
    """Append-only record of a change: who, when, what, before and after.

    Rows are written unsealed inside the change's own transaction (no global lock on the
    hot path); sealing gives each a sequence number and the hash of its predecessor, and
    database triggers then refuse any UPDATE of a sealed row and any DELETE.
    """
    __tablename__ = "audit_record"
    __table_args__ = (sa.UniqueConstraint("seq", name="uq_audit_record_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, index=True)
    actor: str = Field(max_length=100)
    entity_type: str = Field(max_length=30)  # a dozen values: an index would not help, every insert pays it
    entity_id: int = Field(index=True)
    action: str = Field(max_length=40)
    before: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    seq: int | None = None
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)
