from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from pv_service.core.db import FiniteJSON, UTCDateTime


class JobRun(SQLModel, table=True):
    """One run of a job. The unique (job, tick) row is the claim that makes a tick run once;
    `lease_until` (renewed while it runs) lets another scheduler take over a run whose
    process died, and `attempt` counts the owners so a superseded one cannot commit."""
    __tablename__ = "job_run"
    __table_args__ = (sa.UniqueConstraint("job", "tick", name="uq_job_run_job_tick"),
                      sa.Index("ix_job_run_job_id", "job", "id"))
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=60, index=True)
    tick: dt.datetime = Field(sa_type=UTCDateTime)
    trigger: str = Field(max_length=20)  # scheduled or manual
    as_of: dt.date
    started_at: dt.datetime = Field(sa_type=UTCDateTime)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str = Field(max_length=20, index=True)  # running, succeeded, failed
    lease_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)  # while running
    attempt: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=FiniteJSON)
    error: str | None = None
