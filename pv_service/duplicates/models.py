"""Duplicate candidates, the reviewers' decisions, and what the linkage reads of each case."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from pv_service.core.db import FiniteJSON, UTCDateTime


class DuplicateCluster(SQLModel, table=True):
    """Cases suspected to describe one clinical case: reviewed as a whole (confirm, reject, undo)."""
    __tablename__ = "duplicate_cluster"
    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default="pending", max_length=20, index=True)  # pending, confirmed, rejected
    score: float = 0.0  # the highest match probability of its pairs (1 for an identifier rule)
    master_case_id: int | None = Field(default=None, foreign_key="safety_case.id")
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)
    decided_by: int | None = Field(default=None, foreign_key="app_user.id")
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    comment: str | None = Field(default=None, max_length=2000)


class DuplicatePair(SQLModel, table=True):
    """Two cases a rule or the linkage model put together; a rejected pair is never suggested again."""
    __tablename__ = "duplicate_pair"
    __table_args__ = (sa.UniqueConstraint("case_a", "case_b", name="uq_duplicate_pair_cases"),
                      sa.CheckConstraint("case_a < case_b", name="ordered"))
    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="duplicate_cluster.id", index=True)
    case_a: int = Field(foreign_key="safety_case.id")
    case_b: int = Field(foreign_key="safety_case.id", index=True)
    # worldwide_id, other_identifier, content_hash or linkage
    method: str = Field(max_length=20)
    score: float
    # Per compared field its match weight (linkage), or the identifier the rule matched.
    detail: dict = Field(default_factory=dict, sa_type=FiniteJSON)
    status: str = Field(default="pending", max_length=20)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class DuplicateOf(SQLModel, table=True):
    """A confirmed duplicate: it leaves every count (pv_service.cases.access.counted_case); its master stays."""
    __tablename__ = "duplicate_of"
    case_id: int = Field(primary_key=True, foreign_key="safety_case.id", sa_column_kwargs={"autoincrement": False})
    master_case_id: int = Field(foreign_key="safety_case.id", index=True)
    cluster_id: int = Field(foreign_key="duplicate_cluster.id", index=True)
    confirmed_at: dt.datetime = Field(sa_type=UTCDateTime)


class DuplicateFeature(SQLModel, table=True):
    """What the linkage compares of a case's latest version, kept so a nightly run reads one flat table."""
    __tablename__ = "duplicate_feature"
    case_id: int = Field(primary_key=True, foreign_key="safety_case.id", sa_column_kwargs={"autoincrement": False})
    version_id: int
    sender_id: int
    sex: str | None = Field(default=None, max_length=10)
    birth_year: int | None = None
    age_group: str | None = Field(default=None, max_length=10)
    onset_date: dt.date | None = None
    received_date: dt.date
    country: str | None = Field(default=None, max_length=2)
    pts: str = ""  # sorted PT codes, "|"-joined
    products: str = ""  # sorted suspect product codes (or names as reported), "|"-joined
    batch: str | None = Field(default=None, max_length=100)
    qualification: str | None = Field(default=None, max_length=40)
    clinic_id: int | None = None


class DuplicateScan(SQLModel, table=True):
    """How far the duplicate-detection job has read: versions with a higher id are new to it."""
    __tablename__ = "duplicate_scan"
    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_version_id: int = 0
    scanned_at: dt.datetime = Field(sa_type=UTCDateTime)
