from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from pv_service.core.db import FiniteJSON, UTCDateTime


class SignalRun(SQLModel, table=True):
    """One disproportionality run over the database, with its parameters and MGPS fit."""
    __tablename__ = "signal_run"
    id: int | None = Field(default=None, primary_key=True)
    started_at: dt.datetime = Field(sa_type=UTCDateTime)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    as_of: dt.date
    level: str = Field(max_length=40)  # a Level label ("pt", "hlt", "soc:all", "smq:broad", ...) or "group"
    params: dict[str, Any] = Field(default_factory=dict, sa_type=FiniteJSON)
    n_reports: int = 0
    n_pairs: int = 0
    hyperparameters: dict[str, Any] = Field(default_factory=dict, sa_type=FiniteJSON)
    status: str = Field(default="succeeded", max_length=20)


class SignalPair(SQLModel, table=True):
    """Every measure of one product-event (or product-group) pair in one run."""
    __tablename__ = "signal_pair"
    __table_args__ = (sa.Index("ix_signal_pair_run_product_event", "run_id", "product", "event"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="signal_run.id")
    product: str = Field(max_length=40, index=True)
    event: str = Field(max_length=250, index=True)  # a MedDRA code at the run's level, or a group's name
    event_name: str | None = Field(default=None, max_length=250)  # for display only
    n: int
    n_product: int
    n_event: int
    n_total: int
    expected: float
    prr: float | None = None
    prr_lower: float | None = None
    prr_upper: float | None = None
    chi2: float | None = None
    ror: float | None = None
    ror_lower: float | None = None
    ror_upper: float | None = None
    ic: float | None = None
    ic025: float | None = None
    ic975: float | None = None
    ebgm: float | None = None
    eb05: float | None = None
    eb95: float | None = None
    # The event is in the product's reference safety information (a label in force at the run's data
    # lock point); None: the run predates labels or the product has none.
    listed: bool | None = None


class SignalTrend(SQLModel, table=True):
    """One pair's counts and crude measures per calendar quarter of first receipt, up to the run's data
    lock point: cumulative (every case received by the quarter's end) and interval (received in it)."""
    __tablename__ = "signal_trend"
    __table_args__ = (sa.Index("ix_signal_trend_run_product_event", "run_id", "product", "event"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="signal_run.id")
    product: str = Field(max_length=40)
    event: str = Field(max_length=250)
    quarter: str = Field(max_length=7)  # 2024-Q3
    a: int
    n_product: int
    n_event: int
    n_total: int
    prr: float | None = None
    ror: float | None = None
    ror_lower: float | None = None
    ic: float | None = None
    ic025: float | None = None
    interval_a: int
    interval_n_product: int
    interval_n_event: int
    interval_n_total: int
    interval_prr: float | None = None
    interval_ror: float | None = None
    interval_ror_lower: float | None = None
    interval_ic025: float | None = None
    interval_serious: int = 0  # serious cases of the pair received in the quarter


MEASURE_COLUMNS = (
    "n", "n_product", "n_event", "n_total", "expected", "prr", "prr_lower", "prr_upper", "chi2",
    "ror", "ror_lower", "ror_upper", "ic", "ic025", "ic975", "ebgm", "eb05", "eb95",
)
