"""Engine and sessions. SQLite (WAL) by default, PostgreSQL via psycopg 3."""
from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel
from starlette.requests import Request
from starlette.concurrency import run_in_threadpool

from pv_service.common import finite
from pv_service.core.settings import get_settings

# Stable constraint names so Alembic migrations are reproducible on both databases.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both databases (SQLite drops the offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use UTC-aware datetimes")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class FiniteJSON(TypeDecorator):
    """JSON holding non-finite floats on both databases: PostgreSQL refuses a bare Infinity,
    SQLite would store it as invalid JSON. Stored as null plus a marker (pv_service.common.finite)."""

    impl = sa.JSON
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else finite.mark(value)

    def process_result_value(self, value, dialect):
        return None if value is None else finite.restore(value)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Pre-ping: a connection is checked as it leaves the pool (one empty round trip), so after a
    # database restart no request gets a dead connection; without it requests failed for
    # seconds after the database was back. Connecting and waiting for a pooled connection are
    # bounded so that, while the database is away, requests get a 503 at once instead of hanging.
    settings = get_settings()
    engine = sa.create_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800, pool_pre_ping=True,
                              pool_timeout=settings.db_timeout_seconds,
                              connect_args={"connect_timeout": settings.db_timeout_seconds})
    event.listen(engine, "connect", _pg_session(settings.db_statement_timeout_seconds))
    return engine


def _pg_session(statement_timeout_s: int):
    def configure(dbapi_conn, _record) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET statement_timeout = '{int(statement_timeout_s)}s'")
        dbapi_conn.commit()
    return configure


def unbounded_statements(connection) -> None:
    """Jobs and migrations may run long statements: lift the request bound for this transaction."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


def session_scope(engine: Engine | None = None) -> Session:
    return Session(engine or get_engine(), expire_on_commit=False)


def app_engine(request: Request) -> Engine:
    """The engine of the application serving this request (tests give each app its own)."""
    return getattr(request.app.state, "engine", None) or get_engine()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Request-scoped session; the request boundary commits, services never do.

    Creating a session does no I/O, so it happens on the event loop; closing it may (it
    returns the connection to the pool), so that runs in the thread pool.
    """
    session = session_scope(app_engine(request))
    try:
        yield session
    finally:
        await run_in_threadpool(session.close)
