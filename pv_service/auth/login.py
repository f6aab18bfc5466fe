"""Password sign-in, shared by the API's token endpoint and the web login form.

Throttled per username and per address (pv_service.auth.throttle) before any password is
checked; the hash check runs in a small thread pool of its own, off the event loop, so a
burst of sign-ins (argon2 is slow on purpose) cannot take the CPU threads and the default
thread pool from every other request.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import weakref
from dataclasses import dataclass

import anyio
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from pv_service.auth import throttle
from pv_service.auth.models import User
from pv_service.auth.security import verify_password
from pv_service.core.db import session_scope
from pv_service.core.settings import get_settings

# Sign-ins waiting for a hash check beyond this, per worker, are turned away at once (503).
MAX_WAITING = 64
_limiters: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter]" = weakref.WeakKeyDictionary()


class LoginRefused(Exception):
    """Too many attempts (429) or too many sign-ins at once (503); retry after `retry_after` seconds."""

    def __init__(self, status_code: int, message: str, retry_after: int):
        super().__init__(message)
        self.status_code, self.message, self.retry_after = status_code, message, retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


@dataclass(frozen=True)
class _Candidate:
    user: User | None
    user_key: str
    address_key: str


def _limits():
    s = get_settings()
    window, lockout = dt.timedelta(seconds=s.login_window_seconds), dt.timedelta(seconds=s.login_lockout_seconds)
    return (throttle.Limit(s.login_attempts_per_user, window, lockout),
            throttle.Limit(s.login_attempts_per_address, window, lockout))


def _count_and_find(engine: Engine, username: str, address: str, now: dt.datetime) -> _Candidate:
    per_user, per_address = _limits()
    ukey, akey = throttle.user_key(username), throttle.address_key(address)
    with session_scope(engine) as session:
        locked = throttle.count_attempt(session, akey, per_address, now)
        if locked is None:
            locked = throttle.count_attempt(session, ukey, per_user, now)
        session.commit()  # counted even if the check below never finishes
        if locked is not None:
            raise LoginRefused(429, "too many sign-in attempts; try again later", throttle.retry_after(locked, now))
        user = session.exec(select(User).where(User.username == username)).first()
    return _Candidate(user, ukey, akey)


def _succeeded(engine: Engine, candidate: _Candidate, now: dt.datetime) -> None:
    with session_scope(engine) as session:
        throttle.succeeded(session, candidate.user_key, candidate.address_key, now, dt.timedelta(days=1))
        session.commit()


def _limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(get_settings().password_hash_concurrency)
    return limiter


async def check_password(password: str, password_hash: str | None) -> bool:
    limiter = _limiter()
    if limiter.statistics().tasks_waiting >= MAX_WAITING:
        raise LoginRefused(503, "too many sign-ins at once; retry shortly", 1)
    return await anyio.to_thread.run_sync(verify_password, password, password_hash, limiter=limiter)


async def password_login(engine: Engine, username: str, password: str, address: str | None,
                         now: dt.datetime) -> User | None:
    """The user if the password is right and the user active; None otherwise; LoginRefused when throttled.

    Unknown, passwordless and inactive users cost one hash check like everyone else.
    """
    candidate = await run_in_threadpool(_count_and_find, engine, username, address or "unknown", now)
    user = candidate.user
    ok = await check_password(password, user.password_hash if user is not None else None)
    if not ok or user is None or not user.is_active:
        return None
    await run_in_threadpool(_succeeded, engine, candidate, now)
    return user
