"""The audit trail: sealed as written, keyed, append-only, and checked against an exported head."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from pv_service.audit import chain, head
from pv_service.audit.models import AuditRecord
from pv_service.audit.triggers import create_statements, drop_statements
from pv_service.core.settings import get_settings
from tests.conftest import NOW


def add(session, n, start=0):
    for i in range(start, start + n):
        chain.record(session, actor_id=None, actor="tester", entity_type="user", entity_id=i, action="created",
                     before=None, after={"username": f"u{i}"}, now=NOW)
    session.commit()


def rows(session):
    return session.execute(sa.select(AuditRecord.__table__).order_by(AuditRecord.id)).all()


def as_owner(session, *statements):
    """Raw SQL as the tables' owner, with the append-only triggers lifted meanwhile (the owner can)."""
    session.rollback()  # the test's own reads end their transaction: dropping a trigger waits for readers
    db = session.get_bind()
    with db.begin() as conn:
        for s in drop_statements(db.dialect.name):
            conn.execute(sa.text(s))
        for s in statements:
            conn.execute(sa.text(s))
        for s in create_statements(db.dialect.name):
            conn.execute(sa.text(s))


def test_records_are_sealed_in_the_transaction_that_writes_them_and_link_by_hand(session):
    add(session, 3)
    got = rows(session)
    assert [r.seq for r in got] == [1, 2, 3] and all(r.hash for r in got)
    assert got[0].prev_hash == "0" * 64 and got[1].prev_hash == got[0].hash
    # Record 1's hash recomputed independently of chain.content_digest: HMAC with the audit key.
    content = {"seq": 1, "at": NOW.isoformat(), "actor_id": None, "actor": "tester", "entity_type": "user",
               "entity_id": 0, "action": "created", "before": None, "after": {"username": "u0"}}
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"))
    key = get_settings().audit_key.encode()
    assert got[0].hash == hmac.new(key, ("0" * 64 + blob).encode(), hashlib.sha256).hexdigest()
    assert got[0].hash != hashlib.sha256(("0" * 64 + blob).encode()).hexdigest()  # keyed, not plain
    result = chain.verify(session)
    assert result.ok and result.checked == 3 and result.unsealed == 0


def test_a_rolled_back_change_leaves_no_audit_record(session):
    chain.record(session, actor_id=None, actor="tester", entity_type="user", entity_id=1, action="created",
                 before=None, after=None, now=NOW)
    session.rollback()
    session.commit()
    assert rows(session) == []


def test_concurrent_writers_each_append_after_the_last(db):
    """Eight threads, each its own connection and transaction: one unbroken chain, no seq twice."""
    errors = []
    start = threading.Barrier(8)

    def writer(i):
        try:
            start.wait()
            for j in range(5):
                with Session(db) as s:
                    chain.record(s, actor_id=None, actor=f"t{i}", entity_type="user", entity_id=j, action="created",
                                 before=None, after=None, now=NOW)
                    s.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(db) as s:
        result = chain.verify(s)
    assert result.ok and result.checked == 40


def test_database_refuses_update_and_delete_of_records(session, db):
    add(session, 1)
    with db.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            conn.execute(sa.text("UPDATE audit_record SET actor = 'mallory'"))
        conn.rollback()
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            conn.execute(sa.text("DELETE FROM audit_record"))
        conn.rollback()


# ---- the database owner's attacks, each with raw SQL: every one must be detected

def test_owner_editing_a_record_is_detected(session, db):
    add(session, 3)
    as_owner(session, "UPDATE audit_record SET actor = 'mallory' WHERE seq = 2")
    result = chain.verify(session)
    assert not result.ok and result.first_bad_seq == 2 and "hash" in result.reason


def test_owner_deleting_the_last_records_is_detected_against_the_head(session, db):
    add(session, 5)
    exported = head.current(session, NOW)
    assert exported.seq == 5
    as_owner(session, "DELETE FROM audit_record WHERE seq > 3")
    assert chain.verify(session).ok  # a shorter chain is still a valid chain...
    result = chain.verify(session, exported)  # ...but not as long as the head says it was
    assert not result.ok and result.first_bad_seq == 4 and "removed" in result.reason


def test_owner_truncating_the_trail_is_detected_against_the_head(session, db):
    add(session, 3)
    exported = head.current(session, NOW)
    as_owner(session, "TRUNCATE audit_record" if db.dialect.name == "postgresql" else "DELETE FROM audit_record")
    result = chain.verify(session, exported)
    assert not result.ok and result.checked == 0 and "removed" in result.reason


def test_owner_deleting_editing_and_resealing_is_detected(session, db):
    """The owner rebuilds a consistent chain with the plain SHA-256 it can compute: without the key it fails."""
    add(session, 4)
    exported = head.current(session, NOW)
    as_owner(session, "DELETE FROM audit_record WHERE seq = 2", "UPDATE audit_record SET actor = 'mallory' WHERE seq = 3",
             "UPDATE audit_record SET seq = NULL, prev_hash = NULL, hash = NULL")
    remaining = [dict(r._mapping) for r in rows(session)]
    resealed = chain.chain_rows(0, chain.GENESIS, remaining, key=b"the owner's guess")
    as_owner(session, *(f"UPDATE audit_record SET seq = {r['seq']}, prev_hash = '{r['prev_hash']}', hash = '{r['hash']}' "
                   f"WHERE id = {r['id']}" for r in resealed))
    result = chain.verify(session)
    assert not result.ok and result.first_bad_seq == 1 and "hash" in result.reason
    assert not chain.verify(session, exported).ok


def test_owner_slipping_in_or_editing_an_unsealed_record_is_detected(session, db):
    add(session, 2)
    assert chain.verify(session).unsealed == 0  # nothing waits to be sealed: no window to edit it in
    as_owner(session, "INSERT INTO audit_record (at, actor, entity_type, entity_id, action) "
                 "VALUES ('2026-11-23 12:00:00+00:00', 'mallory', 'user', 1, 'created')")
    result = chain.verify(session)
    assert not result.ok and result.unsealed == 1 and "never sealed" in result.reason


def test_stored_reports_are_sealed_as_they_are_stored(client, session, world, treated):
    """Intake (SQLite: the session path; PostgreSQL: the psycopg pipeline) seals set-wise, in its transaction."""
    from tests.api.conftest import report_payload

    p, t = treated
    assert client.post("/v1/reports", json=report_payload(p["id"], t["id"]), headers=world.clinic.headers
                       ).status_code == 201
    batch = [report_payload(p["id"], t["id"], case_id=f"B-{i}") for i in range(120)]  # > one PostgreSQL chunk
    r = client.post("/v1/reports/batch", json={"reports": batch}, headers=world.clinic.headers)
    assert r.status_code == 200, r.text
    reports = [r for r in rows(session) if r.entity_type == "report"]
    assert len(reports) == 121 and all(r.seq is not None and r.hash for r in reports)
    result = chain.verify(session)
    assert result.ok and result.unsealed == 0 and result.checked == len(rows(session))


def test_user_creation_and_reports_are_audited(client, session, world, treated):
    from tests.api.conftest import report_payload
    p, t = treated
    client.post("/v1/users", json={"username": "auditor-x", "role": "safety_officer"}, headers=world.admin.headers)
    client.post("/v1/reports", json=report_payload(p["id"], t["id"]), headers=world.clinic.headers)
    records = client.get("/v1/audit", headers=world.safety.headers).json()["items"]
    kinds = [(r["entity_type"], r["action"], r["actor"]) for r in records]
    assert ("user", "created", "admin") in kinds and ("report", "version_received", "clinic-a") in kinds
    assert client.get("/v1/audit", headers=world.clinic.headers).status_code == 403
    assert client.get("/v1/audit/verify", headers=world.admin.headers).json()["ok"] is True


# ---- the exported head

@pytest.fixture
def head_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(get_settings(), "audit_head_dir", tmp_path / "heads")
    return tmp_path / "heads"


def test_the_job_exports_a_signed_head_that_verify_checks_against(session, db, head_dir):
    from pv_service.jobs.definitions import JOBS
    from pv_service.jobs.runner import run_job

    add(session, 3)
    run = run_job(db, JOBS["audit-head"], lambda: NOW, trigger="manual")
    assert run.outcome == "succeeded" and run.counts["audit_head_seq"] == 3
    exported = head.read(head_dir)
    assert (exported.seq, exported.hash) == (3, rows(session)[-1].hash)
    add(session, 2, start=3)  # records after the head are newer: fine
    result = head.verify_against_exported(session)
    assert result.ok and result.checked == 5 and result.head_seq == 3
    as_owner(session, "DELETE FROM audit_record WHERE seq >= 3")
    result = head.verify_against_exported(session)
    assert not result.ok and "removed" in result.reason


def test_a_head_with_another_hash_at_its_record_is_tampering(session, head_dir):
    add(session, 2)
    key = get_settings().audit_key.encode()
    forged = head.Head(2, "f" * 64, NOW.isoformat(), head._sign(2, "f" * 64, NOW.isoformat(), key))
    result = chain.verify(session, forged)
    assert not result.ok and result.first_bad_seq == 2 and "exported head" in result.reason


def test_an_altered_or_unsigned_head_file_is_refused(session, head_dir):
    add(session, 2)
    path = head.write(head.current(session, NOW), head_dir)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "seq": 1}))  # rolled back to hide the last record
    with pytest.raises(head.HeadError, match="signature"):
        head.read(head_dir)
    assert not head.verify_against_exported(session).ok
    path.write_text("[1, 2")
    with pytest.raises(head.HeadError, match="not an audit head"):
        head.read(head_dir)


def test_cli_head_and_verify(session, db, head_dir, monkeypatch):
    from typer.testing import CliRunner

    from pv_service.cli import app
    from pv_service.core import db as core_db

    monkeypatch.setattr(core_db, "get_engine", lambda: db)
    add(session, 3)
    runner = CliRunner()
    r = runner.invoke(app, ["audit", "head"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["seq"] == 3 and (head_dir / head.FILE_NAME).exists()
    r = runner.invoke(app, ["audit", "verify"])
    assert r.exit_code == 0 and "intact: 3 records, up to the exported head (3 records" in r.output
    as_owner(session, "DELETE FROM audit_record WHERE seq = 3")
    r = runner.invoke(app, ["audit", "verify"])
    assert r.exit_code == 1 and "BROKEN at record 3" in r.output and "removed" in r.output


def test_concurrent_intake_transactions_on_postgresql_chain_one_after_another(db, session, world, treated):
    """Eight psycopg connections storing sets of reports at once: the append lock orders their audit records."""
    if db.dialect.name != "postgresql":
        pytest.skip("the psycopg intake path is PostgreSQL's")
    import asyncio

    import psycopg

    from pv_service.auth.principal import Principal
    from pv_service.cases import intake_pg
    from pv_service.cases.schemas import ReportIn
    from pv_service.common.vocab import Role
    from pv_service.core.pg import conninfo
    from tests.api.conftest import report_payload

    p, t = treated
    principal = Principal(world.clinic.user.id, "clinic-a", Role.clinic, world.clinic.org_id, "CN")

    async def store(i):
        reports = [ReportIn.model_validate(report_payload(p["id"], t["id"], case_id=f"C-{i}-{j}")) for j in range(5)]
        async with await psycopg.AsyncConnection.connect(conninfo(db), autocommit=True) as conn:
            return await intake_pg.submit_many(conn, principal, reports, NOW)

    async def all_at_once():
        return await asyncio.gather(*(store(i) for i in range(8)))

    outcomes = [o for chunk in asyncio.run(all_at_once()) for o in chunk]
    assert all(o.error is None for o in outcomes)
    result = chain.verify(session)
    assert result.ok and result.checked == len(rows(session)) and result.checked >= 40
