from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from pv_service.core.db import UTCDateTime


class SequentialLook(SQLModel, table=True):
    """One look of the Poisson MaxSPRT at a product and event group: the data and the decision then."""
    __tablename__ = "sequential_look"
    __table_args__ = (sa.UniqueConstraint("product_id", "event_group", "look_date",
                                          name="uq_sequential_look_product_group_date"),)
    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    event_group: str = Field(max_length=200)
    look_date: dt.date
    observed: int
    expected: float
    person_years: float
    llr: float
    # The largest log-likelihood ratio reached at any event so far (continuous monitoring).
    max_llr: float
    critical_value: float
    alpha: float
    surveillance_expected: float
    min_events: int
    signalled: bool  # the boundary has been crossed (at this look or an earlier event)
    surveillance_ended: bool  # expected count reached surveillance_expected without a signal
    rules_fingerprint: str = Field(max_length=64)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
