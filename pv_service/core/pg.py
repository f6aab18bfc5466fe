"""Asynchronous psycopg connections for the hot write paths on PostgreSQL.

A pool belongs to the event loop its application's lifespan runs on. A request on a loop
with no pool (an application driven without its lifespan, as some test clients do) gets a
connection of its own: slower, same behaviour.
"""
from __future__ import annotations

import asyncio
import select
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import Engine

from pv_service.core.settings import get_settings


async def _configure(conn: psycopg.AsyncConnection) -> None:
    # The intake statements are key lookups, prepared once per connection. Under the
    # default (auto) PostgreSQL re-plans them on every call, which cost more than running
    # them (docs/benchmarks.md); a generic plan is made once, though, so one made while the
    # tables were empty must not be a scan that stays (seen on a fresh database: every case
    # lookup reading thousands of index rows).
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    await conn.execute("SET enable_seqscan = off")
    # A scan that must stay (meddra_version is read whole) then costs 1e10, far above
    # jit_above_cost: PostgreSQL JIT-compiled the intake read, 300 ms of a 0.3 ms query.
    await conn.execute("SET jit = off")
    await conn.execute(f"SET statement_timeout = '{int(get_settings().db_statement_timeout_seconds)}s'")


def _has_input(conn: psycopg.AsyncConnection) -> bool:
    """Whether the server has sent an idle connection something: a connection the server closed
    (restart, crash, pg_terminate_backend) is readable, its last message or end of file."""
    try:
        poll = select.poll()  # not select(): it fails on descriptors above 1024
        poll.register(conn.pgconn.socket, select.POLLIN)
        return bool(poll.poll(0))  # POLLIN, or POLLHUP / POLLERR for a socket closed under it
    except (psycopg.OperationalError, OSError, ValueError):
        return True  # no socket any more


async def check(conn: psycopg.AsyncConnection) -> None:
    """The pool's check as a connection leaves it, without a round trip for a healthy one.

    A live idle connection has nothing to read; only one that has input (a server closing it,
    or a parameter change it reports) is checked with an empty statement, which raises if it
    is dead so the pool takes another. This used to be two of a report's six round trips.
    """
    if conn.closed or _has_input(conn):
        await AsyncConnectionPool.check_connection(conn)


def conninfo(engine: Engine) -> str:
    """The engine's URL as libpq understands it (query options such as search_path kept)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class Pools:
    """An application's pools, one per event loop that runs its lifespan."""

    def __init__(self) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, AsyncConnectionPool] = {}

    @asynccontextmanager
    async def serving(self, engine: Engine, max_size: int) -> AsyncIterator[None]:
        """Open a pool for the running loop for the duration of the block (the lifespan)."""
        loop = asyncio.get_running_loop()
        timeout = get_settings().db_timeout_seconds
        # `check`: a connection is tested as it leaves the pool, so after a database restart none
        # is handed out dead; `timeout` bounds the wait for one (then 503).
        pool = AsyncConnectionPool(conninfo(engine), min_size=min(2, max_size), max_size=max_size, open=False,
                                   name="pv-intake", kwargs={"autocommit": True, "connect_timeout": timeout},
                                   configure=_configure, check=check,
                                   timeout=timeout)
        await pool.open()
        self._by_loop[loop] = pool
        try:
            yield
        finally:
            del self._by_loop[loop]
            await pool.close()

    def current(self) -> AsyncConnectionPool | None:
        return self._by_loop.get(asyncio.get_running_loop())


@asynccontextmanager
async def connection(pools: Pools, engine: Engine) -> AsyncIterator[psycopg.AsyncConnection]:
    """A connection in autocommit mode: each statement is its own transaction."""
    pool = pools.current()
    if pool is not None:
        async with pool.connection() as conn:
            yield conn
        return
    conn = await psycopg.AsyncConnection.connect(conninfo(engine), autocommit=True,
                                                 connect_timeout=get_settings().db_timeout_seconds)
    try:
        await _configure(conn)
        yield conn
    finally:
        await conn.close()
