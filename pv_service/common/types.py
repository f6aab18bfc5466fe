"""Shared field types for API parameters and bodies."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from annotated_types import Interval
from pydantic import AwareDatetime, Field

# Row ids are 32-bit on PostgreSQL (INTEGER): larger numbers cannot name a row, and
# would otherwise reach the database as an out-of-range parameter.
MAX_DB_INT = 2_147_483_647
DbId = Annotated[int, Interval(ge=1, le=MAX_DB_INT)]
Count = Annotated[int, Interval(ge=0, le=MAX_DB_INT)]

# Every date the API takes (query parameters and body fields) lies in this range: no
# infusion, report, visit or milestone of a cell therapy falls outside it, and it keeps
# date arithmetic (a 12-month period back from a day, lifelong schedules) far from the
# ends of the calendar, so no computation on an accepted date can overflow or loop.
# Whether a date may be in the future is each endpoint's rule (with the injected now).
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)
ApiDate = Annotated[dt.date, Interval(ge=MIN_DATE, le=MAX_DATE), Field(json_schema_extra={
    "formatMinimum": MIN_DATE.isoformat(), "formatMaximum": MAX_DATE.isoformat()})]
# The same range for instants (with their offset: a naive time is refused).
ApiDateTime = Annotated[AwareDatetime, Interval(
    ge=dt.datetime.combine(MIN_DATE, dt.time.min, tzinfo=dt.timezone.utc),
    le=dt.datetime.combine(MAX_DATE, dt.time.max, tzinfo=dt.timezone.utc)), Field(json_schema_extra={
        "formatMinimum": MIN_DATE.isoformat(), "formatMaximum": MAX_DATE.isoformat()})]


def parse_date(text: str) -> dt.date:
    """A date typed on a command line, held to the API's range: ValueError saying what is wrong."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError("is not a date (YYYY-MM-DD)") from None
    if not MIN_DATE <= day <= MAX_DATE:
        raise ValueError(f"is outside {MIN_DATE}..{MAX_DATE}")
    return day
