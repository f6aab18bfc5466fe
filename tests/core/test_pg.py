"""The asynchronous PostgreSQL connections of the intake path."""
from __future__ import annotations

import asyncio

import pytest

from pv_service.core import pg


async def _settings(conn) -> tuple[str, str, str, bool]:
    plans = (await (await conn.execute("SHOW plan_cache_mode")).fetchone())[0]
    seqscan = (await (await conn.execute("SHOW enable_seqscan")).fetchone())[0]
    jit = (await (await conn.execute("SHOW jit")).fetchone())[0]
    return plans, seqscan, jit, conn.autocommit


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_intake_connections_are_autocommit_with_generic_index_plans(db):
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

    expected = ("force_generic_plan", "off", "off", True)  # jit off: see pv_service.core.pg._configure
    assert asyncio.run(check()) == (expected, expected)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_the_pool_reaches_the_schema_of_the_engine(db):
    # The tests' engines carry search_path in the URL; the pool must land in the same schema.
    async def check():
        async with pg.connection(pg.Pools(), db) as conn:
            return (await (await conn.execute("SELECT current_schema()")).fetchone())[0]

    with db.connect() as c:
        expected = c.exec_driver_sql("SELECT current_schema()").scalar_one()
    assert asyncio.run(check()) == expected


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_intake_lookups_use_indexes_even_when_planned_on_empty_tables(db):
    from pv_service.cases import intake_pg

    names = ["sender", "patient_ids", "pseudonyms", "treatment_ids", "case_keys", "n"]
    types = ["int", "int[]", "text[]", "int[]", "text[]", "int"]
    sql = intake_pg._READ
    for i, name in enumerate(names, 1):
        sql = sql.replace(f"%({name})s", f"${i}")

    async def plan():
        async with pg.connection(pg.Pools(), db) as conn:
            await conn.execute("ANALYZE")  # the tables are empty: the statistics say so
            await conn.execute(f"PREPARE lookups({', '.join(types)}) AS {sql}")
            rows = await (await conn.execute("EXPLAIN EXECUTE lookups(1, '{1}', '{x}', '{1}', '{k}', 1)")).fetchall()
            return "\n".join(r[0] for r in rows)

    text = asyncio.run(plan())
    # meddra_version is read whole (a row per loaded MedDRA version, a handful): a scan is its plan.
    scans = [line for line in text.splitlines() if "Seq Scan" in line and "meddra_version" not in line]
    assert scans == [], text
    assert "Index" in text


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_the_pool_check_costs_a_healthy_connection_no_round_trip_and_refuses_a_dead_one(db, monkeypatch):
    import psycopg
    from psycopg_pool import AsyncConnectionPool

    checked = []
    full_check = AsyncConnectionPool.check_connection

    async def counted(conn):
        checked.append(conn)
        await full_check(conn)

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", staticmethod(counted))

    async def scenario():
        async with await psycopg.AsyncConnection.connect(pg.conninfo(db), autocommit=True) as conn:
            await conn.execute("SELECT 1")
            await pg.check(conn)  # healthy and idle: nothing to read, so no statement sent
            healthy_checks = len(checked)
            async with await psycopg.AsyncConnection.connect(pg.conninfo(db), autocommit=True) as other:
                await other.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            await asyncio.sleep(0.2)  # as after a database restart: the server has closed it
            with pytest.raises(psycopg.OperationalError):
                await pg.check(conn)
            return healthy_checks, len(checked)

    assert asyncio.run(scenario()) == (0, 1)
