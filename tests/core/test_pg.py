"""The asynchronous PostgreSQL connections of the intake path."""
from __future__ import annotations

import asyncio

import pytest

from pv_service.core import pg


async def _settings(conn) -> tuple[str, bool]:
    row = await (await conn.execute("SHOW plan_cache_mode")).fetchone()
    return row[0], conn.autocommit


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_intake_connections_are_autocommit_with_generic_plans(db):
    async def check():
        pools = pg.Pools()
        without_pool = None
        async with pg.connection(pools, db) as conn:  # no pool on this loop yet: a connection of its own
            without_pool = await _settings(conn)
        async with pools.serving(db, 2):
            assert pools.current() is not None
            async with pg.connection(pools, db) as conn:
                pooled = await _settings(conn)
        assert pools.current() is None
        return without_pool, pooled

    assert asyncio.run(check()) == (("force_generic_plan", True), ("force_generic_plan", True))


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_the_pool_reaches_the_schema_of_the_engine(db):
    # The tests' engines carry search_path in the URL; the pool must land in the same schema.
    async def check():
        async with pg.connection(pg.Pools(), db) as conn:
            return (await (await conn.execute("SELECT current_schema()")).fetchone())[0]

    with db.connect() as c:
        expected = c.exec_driver_sql("SELECT current_schema()").scalar_one()
    assert asyncio.run(check()) == expected
