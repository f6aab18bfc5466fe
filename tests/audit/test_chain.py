"""The audit trail is append-only and its hash chain exposes tampering."""
from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa

from pv_service.audit import chain
from pv_service.audit.models import AuditRecord
from tests.conftest import NOW


def add(session, n):
    for i in range(n):
        chain.record(session, actor_id=None, actor="tester", entity_type="user", entity_id=i, action="created",
                     before=None, after={"username": f"u{i}"}, now=NOW)


def test_sealed_chain_verifies_and_links_by_hand(session):
    add(session, 3)
    assert chain.seal(session) == 3
    session.commit()
    rows = session.execute(sa.select(AuditRecord.__table__).order_by(AuditRecord.seq)).all()
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == "0" * 64 and rows[1].prev_hash == rows[0].hash
    # Recompute record 1's hash independently of chain.content_digest.
    content = {"seq": 1, "at": NOW.isoformat(), "actor_id": None, "actor": "tester", "entity_type": "user",
               "entity_id": 0, "action": "created", "before": None, "after": {"username": "u0"}}
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"))
    assert rows[0].hash == hashlib.sha256(("0" * 64 + blob).encode()).hexdigest()
    result = chain.verify(session)
    assert result.ok and result.checked == 3 and result.unsealed == 0


def test_later_records_extend_the_chain(session):
    add(session, 2)
    chain.seal(session)
    add(session, 1)
    assert chain.verify(session).unsealed == 1
    chain.seal(session)
    session.commit()
    assert chain.verify(session).checked == 3


def test_database_refuses_update_of_sealed_records_and_any_delete(session, db):
    add(session, 1)
    chain.seal(session)
    session.commit()
    with db.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            conn.execute(sa.text("UPDATE audit_record SET actor = 'mallory'"))
        conn.rollback()
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            conn.execute(sa.text("DELETE FROM audit_record"))
        conn.rollback()


def test_tampering_is_detected(session, db):
    add(session, 3)
    chain.seal(session)
    session.commit()
    # Someone with database superpowers drops the trigger and edits record 2.
    from pv_service.audit.triggers import create_statements, drop_statements
    with db.begin() as conn:
        for s in drop_statements(db.dialect.name):
            conn.execute(sa.text(s))
        conn.execute(sa.text("UPDATE audit_record SET actor = 'mallory' WHERE seq = 2"))
        for s in create_statements(db.dialect.name):
            conn.execute(sa.text(s))
    result = chain.verify(session)
    assert not result.ok and result.first_bad_seq == 2 and "hash" in result.reason


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
