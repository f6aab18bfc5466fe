"""Storing case reports on PostgreSQL straight through psycopg, on the event loop: two round trips.

One statement reads everything the reports name and takes ids from the sequences; one
transaction, pipelined, writes every row: a statement of data-modifying CTEs (each table's
rows as one JSON parameter, so its text is the same whatever the number of reports, which
lets psycopg prepare it once per connection), then, under the audit trail's append lock
taken last, the last audit record, and the set's audit records sealed after it (the keyed
hashes are computed here: the database does not hold the key). Same decisions and rows as
`intake_sql` (both come from `intake`); the statements are built from the same tables. If
the write meets a concurrent writer of the same case (a unique constraint), every report is
retried alone.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from collections import namedtuple
from collections.abc import Callable, Hashable, Iterable
from contextlib import AbstractAsyncContextManager

import orjson
import psycopg

from pv_service.audit import chain
from pv_service.audit.models import AuditRecord
from pv_service.auth.principal import Principal
from pv_service.cases import intake
from pv_service.cases.intake import Keys, Lookups, Outcome, Plan
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.cases.schemas import ReportIn
from pv_service.meddra.lookup import CACHE, TERMS_SQL
from pv_service.meddra.models import MeddraVersion
from pv_service.patients.models import Patient, Treatment
from pv_service.products.models import Product

_case, _version = Case.__tablename__, CaseVersion.__tablename__
_PatientRow = namedtuple("_PatientRow", "id birth_year pseudonym")
_TreatmentRow = namedtuple("_TreatmentRow", "id patient_id product_id code infusion_date")
_ProductRow = namedtuple("_ProductRow", "id code trade_name inn mah_organization_id")
_CaseRow = namedtuple("_CaseRow", "id sender_case_id patient_id first_received latest_version version content_hash "
                                  "latest_info_date")

# Each lookup comes back as a JSON array of arrays: one statement, one row. Treatments only the
# sender's own: another clinic's id reads as one that does not exist.
_READ = f"""SELECT
 (SELECT coalesce(json_agg(json_build_array(id, birth_year, pseudonym)), '[]') FROM {Patient.__tablename__}
  WHERE clinic_id = %(sender)s AND (id = ANY(%(patient_ids)s) OR pseudonym = ANY(%(pseudonyms)s))),
 (SELECT coalesce(json_agg(json_build_array(t.id, t.patient_id, t.product_id, p.code, t.infusion_date)), '[]')
  FROM {Treatment.__tablename__} t JOIN {Product.__tablename__} p ON p.id = t.product_id
  JOIN {Patient.__tablename__} pa ON pa.id = t.patient_id
  WHERE t.id = ANY(%(treatment_ids)s) AND pa.clinic_id = %(sender)s),
 (SELECT coalesce(json_agg(json_build_array(c.id, c.sender_case_id, c.patient_id, c.first_received, c.latest_version,
                                            v.version, v.content_hash, v.latest_info_date)), '[]')
  FROM {_case} c JOIN {_version} v ON v.case_id = c.id
  WHERE c.sender_id = %(sender)s AND c.sender_case_id = ANY(%(case_keys)s)),
 (SELECT coalesce(json_agg(json_build_array(version, content_hash)), '[]') FROM {MeddraVersion.__tablename__}),
 -- at most one new case and one version per report; unused ids are gaps, as sequences allow
 array(SELECT nextval('{_case}_id_seq') FROM generate_series(1, %(n)s)),
 array(SELECT nextval('{_version}_id_seq') FROM generate_series(1, %(n)s))"""

# The registered products reported drugs may name (pv_service.products.matching): read only for reports that
# name drugs as reported, so a registry of a few hundred rows is read whole (no index on lower(name)).
_PRODUCTS = (f"SELECT id, code, trade_name, inn, mah_organization_id FROM {Product.__tablename__} "
             "WHERE lower(code) = ANY(%(names)s) OR lower(trade_name) = ANY(%(names)s) OR lower(inn) = ANY(%(names)s)")


def _insert_from_json(model, exclude: tuple[str, ...] = ()) -> str:
    """INSERT the rows of a JSON array of objects (one parameter per table, whatever the number of rows)."""
    cols = ", ".join(c.name for c in model.__table__.c if c.name not in exclude)
    table = model.__tablename__
    return f"INSERT INTO {table} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{table}, %s::json)"


_WRITE = "WITH " + ",\n ".join([
    f"c AS ({_insert_from_json(Case)})",
    f"v AS ({_insert_from_json(CaseVersion)})",
    f"d AS ({_insert_from_json(CaseDrug, ('id',))})",
    f"r AS ({_insert_from_json(CaseReaction, ('id',))})",
    # the latest-version pointer of cases followed up; it only ever moves forward
    f"l AS (UPDATE {_case} c SET latest_version = u.lv, latest_version_id = u.lvid "
    "FROM json_to_recordset(%s::json) AS u(cid integer, lv integer, lvid integer) "
    "WHERE c.id = u.cid AND c.latest_version < u.lv)",
]) + "\nSELECT 1"


_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_LAST = f"SELECT seq, hash FROM {AuditRecord.__tablename__} WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
_AUDIT = _insert_from_json(AuditRecord, ('id',))


def _json(rows: list[dict]) -> str:
    return orjson.dumps(rows).decode()


async def _read(conn: psycopg.AsyncConnection, keys: Keys, n: int) -> tuple[Lookups, list[int], list[int]]:
    params = {"sender": keys.sender_id, "patient_ids": keys.patient_ids, "pseudonyms": keys.pseudonyms,
              "treatment_ids": keys.treatment_ids, "case_keys": keys.case_keys, "n": n}
    patients, treatments, cases, versions, case_ids, version_ids = await (await conn.execute(_READ, params)).fetchone()
    products = await (await conn.execute(_PRODUCTS, {"names": keys.product_names})).fetchall() \
        if keys.product_names else []
    date = dt.date.fromisoformat
    cases = [_CaseRow(*c[:3], date(c[3]), *c[4:7], date(c[7])) for c in cases]
    treatments = [_TreatmentRow(*t[:4], date(t[4])) for t in treatments]
    # A version this process has not met yet is read once (versions are immutable once loaded).
    fetched = {v: await (await conn.execute(TERMS_SQL, {"version": v})).fetchall()
               for v, content_hash in versions if CACHE.get(v, content_hash) is None}
    dictionaries = CACHE.loaded(versions, fetched.__getitem__)
    return (Lookups.of([_PatientRow(*p) for p in patients], treatments, cases, dictionaries,
                       bool(dictionaries) and intake.refuse_non_current(), [_ProductRow(*p) for p in products]),
            case_ids, version_ids)


async def _write(conn: psycopg.AsyncConnection, plan: Plan, case_ids: list[int], version_ids: list[int],
                 principal: Principal, now: dt.datetime) -> None:
    inserts = plan.inserts
    if not inserts:
        return
    version_ids = version_ids[:len(inserts)]
    new_keys = plan.new_keys
    for key, case_id in zip(new_keys, case_ids):
        plan.state[key].case_id = case_id
    latest = intake.latest_version_ids(plan, version_ids)
    cases = [{**row, "id": plan.state[row["sender_case_id"]].case_id, "latest_version_id": latest[row["sender_case_id"]]}
             for row in intake.case_rows(plan, principal.organization_id, now)]
    versions = [{**row, "id": vid} for row, vid in zip(intake.version_rows(plan, principal, now), version_ids)]
    followed = [{"cid": plan.state[k].case_id, "lv": plan.state[k].latest, "lvid": vid}
                for k, vid in latest.items() if k not in new_keys]
    params = [_json(cases), _json(versions), _json(intake.drug_rows(plan, version_ids)),
              _json(intake.reaction_rows(plan, version_ids)), _json(followed)]
    audit_rows = intake.audit_rows(plan, principal, now)
    try:
        async with conn.pipeline() as pipeline:
            await conn.execute("BEGIN")
            await conn.execute(_WRITE, params)
            # The append lock as late as possible: held from here to the commit, one round trip.
            await conn.execute(_LOCK, (chain.SEAL_LOCK,))
            last = await conn.execute(_LAST)  # its snapshot is taken after the lock is granted
            await pipeline.sync()
            seq, prev = await last.fetchone() or (0, chain.GENESIS)
            await conn.execute(_AUDIT, (_json(chain.chain_rows(seq, prev, audit_rows, chain.audit_key())),))
            await conn.execute("COMMIT")
    except BaseException:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            await conn.execute("ROLLBACK")
        raise


async def submit_many(conn: psycopg.AsyncConnection, principal: Principal, reports: list[ReportIn],
                      now: dt.datetime, _retry: bool = True, views: bool = False) -> list[Outcome]:
    """Each report's outcome, in order (`views`: as `intake.finish`). `conn` is in autocommit mode:
    each statement is its own transaction."""
    keys = intake.keys_for(principal.organization_id, reports)
    try:
        lookups, case_ids, version_ids = await _read(conn, keys, len(reports))
        plan = intake.plan(principal, reports, lookups, now)
        await _write(conn, plan, case_ids, version_ids, principal, now)
    except psycopg.errors.UniqueViolation:
        if not _retry:
            raise
        # Someone wrote the same case meanwhile: decide each report again, alone.
        outcomes = plan.outcomes
        for p, _ in plan.accepted:
            outcomes[p.index] = (await submit_many(conn, principal, [p.report], now, _retry=False))[0]
        return outcomes
    return intake.finish(plan, principal, now, views)


# Measured on the 2-core machine (docs/benchmarks.md): chunks of ~100 on 3 connections keep
# this process and PostgreSQL both busy; one chunk of 500 leaves each waiting on the other.
CHUNK_SIZE = 100
PARALLEL_CHUNKS = 3


def chunks_by_case(case_keys: list[Hashable], size: int) -> list[list[int]]:
    """Report indexes in chunks of about `size`, every report of a case in one chunk, in order.

    Chunks share no case, so they can be stored independently (and concurrently).
    """
    chunks: list[list[int]] = []
    chunk_of: dict[Hashable, int] = {}
    for i, key in enumerate(case_keys):
        c = chunk_of.get(key)
        if c is None:
            if not chunks or len(chunks[-1]) >= size:
                chunks.append([])
            c = chunk_of[key] = len(chunks) - 1
        chunks[c].append(i)
    return chunks


async def submit_chunks(connect: Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection]],
                        principal: Principal, chunks: Iterable[list[tuple[int, ReportIn]]], now: dt.datetime,
                        parallel: int = PARALLEL_CHUNKS) -> dict[int, Outcome]:
    """Chunks (from `chunks_by_case`) stored on several connections at once; outcomes by report index.

    Each chunk is sent as soon as it is drawn from `chunks`, so the database works on one
    while this process prepares the next (or is still validating the later ones); each
    report's outcome is what `submit_many` would give it.
    """
    outcomes: dict[int, Outcome] = {}
    limit = asyncio.Semaphore(parallel)

    async def run(chunk: list[tuple[int, ReportIn]]) -> None:
        async with limit, connect() as conn:
            for (i, _), outcome in zip(chunk, await submit_many(conn, principal, [r for _, r in chunk], now)):
                outcomes[i] = outcome

    tasks = []
    for chunk in chunks:
        if chunk:
            tasks.append(asyncio.create_task(run(chunk)))
            await asyncio.sleep(0)  # let it send its first statement before the next chunk is prepared
    await asyncio.gather(*tasks)
    return outcomes
