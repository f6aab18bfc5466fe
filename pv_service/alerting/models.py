from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from pv_service.core.db import FiniteJSON, UTCDateTime


class Alert(SQLModel, table=True):
    """Every alert the service raises, in one queue.

    `key` names the cause (for example `followup:treatment:12:Y2`), so a job that sees the
    same cause again updates the alert instead of raising a second one.
    """
    __table_args__ = (sa.UniqueConstraint("key", name="uq_alert_key"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)
    type: str = Field(max_length=20, index=True)  # followup, deadline, reporting_clock, signal
    status: str = Field(max_length=20, index=True)
    severity: str = Field(max_length=10)  # low, medium, high, critical
    priority: float = 0.0
    title: str = Field(max_length=300)
    subject_type: str = Field(max_length=20)  # treatment, patient, product, case, pair
    subject_id: int | None = Field(default=None, index=True)
    product_id: int | None = Field(default=None, foreign_key="product.id", index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=FiniteJSON)
    assignee_id: int | None = Field(default=None, foreign_key="app_user.id")
    first_raised_at: dt.datetime = Field(sa_type=UTCDateTime)
    last_seen_at: dt.datetime = Field(sa_type=UTCDateTime)
    resolved_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution: str | None = Field(default=None, max_length=40)
    # When the status last changed (None: never since raised), for the due date of a signal's step.
    status_since: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The case count a person last acted on (a step, a note) and when: later cases are new evidence.
    reviewed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    reviewed_n: int | None = None


class AlertEvent(SQLModel, table=True):
    """One step of an alert's workflow: who moved it, when, from what to what, and why."""
    __tablename__ = "alert_event"
    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    at: dt.datetime = Field(sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    actor: str = Field(max_length=100)
    kind: str = Field(max_length=20)  # raised, transition, assigned, reopened, updated, auto_resolved
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)
    action: str | None = Field(default=None, max_length=40)
    comment: str | None = Field(default=None, max_length=4000)


class SignalNote(SQLModel, table=True):
    """A reviewer's note on a signal, recorded without moving its status."""
    __tablename__ = "signal_note"
    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    at: dt.datetime = Field(sa_type=UTCDateTime)
    author_id: int | None = Field(default=None, foreign_key="app_user.id")
    author: str = Field(max_length=100)
    text: str = Field(max_length=4000)


class SignalAttachment(SQLModel, table=True):
    """A file attached to a signal, kept in the database (no client path ever reaches the file system)."""
    __tablename__ = "signal_attachment"
    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    at: dt.datetime = Field(sa_type=UTCDateTime)
    author_id: int | None = Field(default=None, foreign_key="app_user.id")
    author: str = Field(max_length=100)
    filename: str = Field(max_length=200)  # a display name only, cleaned of any path
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    content: bytes = Field(sa_type=sa.LargeBinary)
