"""Password attempts counted per username and per client address, in the database so every
worker sees the same counts.

An attempt is counted before the password is checked (so concurrent guesses cannot all slip
in under the limit); a successful sign-in clears its username's count and refunds its
address's. Past the limit the key is locked for the lockout time and every attempt is
refused without checking the password. Usernames and addresses are stored hashed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from pv_service.auth.models import LoginThrottle
from pv_service.core.db import UTCDateTime

T = LoginThrottle.__table__


@dataclass(frozen=True)
class Limit:
    attempts: int
    window: dt.timedelta
    lockout: dt.timedelta


def user_key(username: str) -> str:
    return "u:" + hashlib.sha256(username.strip().casefold().encode()).hexdigest()


def address_key(address: str) -> str:
    return "a:" + hashlib.sha256(address.encode()).hexdigest()


def retry_after(locked_until: dt.datetime, now: dt.datetime) -> int:
    """Whole seconds until the lock lifts (at least 1), for the Retry-After header."""
    return max(1, math.ceil((locked_until - now).total_seconds()))


def _insert(session: Session):
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(T)


def count_attempt(session: Session, key: str, limit: Limit, now: dt.datetime) -> dt.datetime | None:
    """Count one attempt on `key` in one atomic statement; the end of its lock if it is refused."""
    at = sa.literal(now, UTCDateTime())
    # A key starts afresh once its window has passed (unlocked) or its lock has lifted.
    fresh = sa.or_(sa.and_(T.c.locked_until.is_(None), T.c.window_start <= now - limit.window),
                   sa.and_(T.c.locked_until.is_not(None), T.c.locked_until <= now))
    stmt = _insert(session).values(key=key, attempts=1, window_start=now, locked_until=None)
    stmt = stmt.on_conflict_do_update(index_elements=[T.c.key], set_={
        "attempts": sa.case((fresh, 1), else_=T.c.attempts + 1),
        "window_start": sa.case((fresh, at), else_=T.c.window_start),
        "locked_until": sa.case(
            (fresh, sa.null()),
            (sa.and_(T.c.locked_until.is_(None), T.c.attempts + 1 > limit.attempts),
             sa.literal(now + limit.lockout, UTCDateTime())),
            else_=T.c.locked_until),
    }).returning(T.c.locked_until)
    locked_until = session.execute(stmt).scalar_one()
    return locked_until if locked_until is not None and locked_until > now else None


def succeeded(session: Session, user: str, address: str, now: dt.datetime, keep: dt.timedelta) -> None:
    session.execute(sa.delete(T).where(T.c.key == user))
    session.execute(sa.update(T).where(T.c.key == address, T.c.attempts > 0, T.c.locked_until.is_(None))
                    .values(attempts=T.c.attempts - 1))
    # Keys nobody has tried for a while (their window long past, no lock): the table stays small.
    session.execute(sa.delete(T).where(T.c.window_start < now - keep,
                                       sa.or_(T.c.locked_until.is_(None), T.c.locked_until <= now)))
