"""The service's notion of "now", injectable so rules, jobs and deadlines are testable."""
from __future__ import annotations

import datetime as dt
from typing import Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def fixed_clock(at: dt.datetime) -> Clock:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return lambda: at


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)
