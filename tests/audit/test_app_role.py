"""The service runs as a PostgreSQL role that owns nothing: it cannot rewrite the audit trail."""
from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pv_service.app import create_app
from pv_service.audit import chain
from pv_service.core.grants import statements
from pv_service.core.migrate import upgrade
from tests.conftest import NOW


def test_grants_are_append_only_on_the_audit_trail():
    got = statements("app", "public", ["alert", "audit_record", "alembic_version", "meddra_term"], lambda n: f'"{n}"')
    assert 'GRANT SELECT, INSERT ON "public"."audit_record" TO "app"' in got
    assert 'GRANT SELECT, INSERT ON "public"."meddra_term" TO "app"' in got  # a loaded version never changes
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON "public"."alert" TO "app"' in got
    assert 'GRANT SELECT ON "public"."alembic_version" TO "app"' in got
    assert got[0] == 'REVOKE ALL ON ALL TABLES IN SCHEMA "public" FROM "app"'


@pytest.fixture
def app_role(db):
    if db.dialect.name != "postgresql":
        pytest.skip("database roles are PostgreSQL's")
    role = f"pv_app_{os.getpid()}"
    with db.begin() as conn:
        conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
    upgrade(db, app_role=role)  # at head already: only grants
    yield role
    with db.begin() as conn:
        conn.execute(sa.text(f"DROP OWNED BY {role}"))
        conn.execute(sa.text(f"DROP ROLE {role}"))


def _as(db, role):
    """An engine on the test schema logging in as `role` (the local server trusts local connections)."""
    return sa.create_engine(db.url.set(username=role, password=None))


def assert_refused(conn, attacks, match: str = "permission denied|must be owner") -> None:
    """Every statement in `attacks` fails for lack of privilege (and changes nothing)."""
    for attack in attacks:
        with pytest.raises(sa.exc.ProgrammingError, match=match):
            conn.execute(sa.text(attack))
        conn.rollback()


def test_the_app_role_cannot_update_delete_or_truncate_audit_records(db, session, app_role):
    chain.record(session, actor_id=None, actor="t", entity_type="user", entity_id=1, action="created",
                 before=None, after=None, now=NOW)
    session.commit()
    engine = _as(db, app_role)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_user")).scalar_one() == app_role
            chain.append(conn, [dict(at=NOW, actor_id=None, actor="t", entity_type="user", entity_id=2,
                                     action="created", before=None, after=None)])  # INSERT is allowed
            conn.commit()
            assert_refused(conn, ("UPDATE audit_record SET actor = 'mallory' WHERE seq = 2",
                                  "DELETE FROM audit_record WHERE seq = 2", "TRUNCATE audit_record",
                                  "DROP TRIGGER audit_record_append_only ON audit_record",
                                  "ALTER TABLE audit_record DISABLE TRIGGER ALL"))
    finally:
        engine.dispose()
    assert chain.verify(session).checked == 2


def test_the_service_works_as_the_app_role(db, session, world, products, app_role):
    from tests.api.conftest import register, report_payload, treat

    engine = _as(db, app_role)
    try:
        with TestClient(create_app(clock=lambda: NOW, engine=engine)) as client:
            h = world.clinic.headers
            p, t = register(client, world.clinic), treat(client, world.clinic, register(client, world.clinic)["id"])
            r = client.post("/v1/reports", json=report_payload(p["id"], t["id"]), headers=h)
            assert r.status_code == 201, r.text
            batch = [report_payload(p["id"], t["id"], case_id=f"B-{i}") for i in range(120)]
            assert client.post("/v1/reports/batch", json={"reports": batch}, headers=h).status_code == 200
            assert client.get("/v1/audit/verify", headers=world.safety.headers).json()["ok"] is True
    finally:
        engine.dispose()


def test_compose_migrates_as_the_owner_and_serves_as_the_app_role():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    services = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]

    def user(service):
        return sa.engine.make_url(services[service]["environment"]["PV_DATABASE_URL"]).username

    role = services["migrate"]["environment"]["PV_DATABASE_APP_ROLE"]
    assert user("migrate") == services["db"]["environment"]["POSTGRES_USER"] != role
    assert user("api") == user("scheduler") == role
    assert "migrate" not in " ".join(services["api"]["command"])
    assert "CREATE ROLE pv_app LOGIN" in (root / "docker" / "initdb" / "10-app-role.sh").read_text()
