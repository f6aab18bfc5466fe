"""The revocation epoch: one number every worker reads per request to know whether the
principals it has cached may still be trusted.

Database triggers (migration 0009) raise it on every UPDATE or DELETE of a user or an API
key, whichever code or tool makes the change: a revoked or expired-by-hand key, a
deactivated or re-roled user, a password reset and a logout (both raise the user's token
version) are refused by every worker from the next request on.
"""
from __future__ import annotations

from fastapi import Request
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from pv_service.core.db import app_engine

EPOCH_SQL = "SELECT epoch FROM auth_epoch WHERE id = 1"
_EPOCH = text(EPOCH_SQL)


def read_epoch(engine: Engine) -> int:
    with engine.connect() as conn:
        value = conn.execute(_EPOCH).scalar()
    return value or 0


async def current_epoch(request: Request) -> int:
    """The epoch as of this request's arrival, from a read shared with the requests arriving with it
    (pv_service.auth.epoch_reads)."""
    return await request.app.state.epoch_reads.get().read(lambda: _fetch(request))


async def _fetch(request: Request) -> int:
    """On PostgreSQL through the event loop's psycopg pool (no thread-pool hop); else in the thread pool."""
    engine = app_engine(request)
    pools = getattr(request.app.state, "pg_pools", None)
    pool = pools.current() if pools is not None and engine.dialect.name == "postgresql" else None
    if pool is not None:
        async with pool.connection() as conn:
            row = await (await conn.execute(EPOCH_SQL)).fetchone()
        return row[0] if row else 0
    return await run_in_threadpool(read_epoch, engine)
