from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from pv_service.core.db import UTCDateTime


class Product(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, sa_column_kwargs={"unique": True})
    inn: str = Field(max_length=200)
    trade_name: str = Field(max_length=200)
    modality: str = Field(max_length=20, index=True)
    target: str | None = Field(default=None, max_length=60)
    mah_organization_id: int = Field(foreign_key="organization.id", index=True)
    # Key of a follow-up plan in alerts/; None means the default plan for the modality.
    followup_plan: str | None = Field(default=None, max_length=60)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class ProductApproval(SQLModel, table=True):
    __tablename__ = "product_approval"
    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    jurisdiction: str = Field(max_length=20)
    approval_date: dt.date
    approval_type: str = Field(max_length=20)
    indication: str = Field(max_length=500)
    source: str | None = Field(default=None, max_length=500)


class ConfirmatoryObligation(SQLModel, table=True):
    """A confirmatory-trial obligation attached to a conditional approval."""
    __tablename__ = "confirmatory_obligation"
    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    jurisdiction: str = Field(max_length=20)
    description: str = Field(max_length=500)
    due_date: dt.date
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class ObligationMilestone(SQLModel, table=True):
    __tablename__ = "obligation_milestone"
    # One row per kind: two first writes at once must not both insert one.
    __table_args__ = (sa.UniqueConstraint("obligation_id", "kind", name="uq_obligation_milestone_obligation_id"),)
    id: int | None = Field(default=None, primary_key=True)
    obligation_id: int = Field(foreign_key="confirmatory_obligation.id", index=True)
    kind: str = Field(max_length=40)
    planned_date: dt.date | None = None
    achieved_date: dt.date | None = None
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)
