"""The database goes away: requests answer 503 with Retry-After at once, and the first request
after it is back succeeds (no stale pooled connection is handed out), on both connection paths."""
from __future__ import annotations

import os
import time

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pv_service.app import create_app
from pv_service.core.db import make_engine
from tests.api.conftest import register, report_payload, treat
from tests.conftest import NOW


@pytest.fixture
def pg_db(db):
    if db.dialect.name != "postgresql":
        pytest.skip("connection pools and outages are PostgreSQL's")
    return db


def _app_engine(db, **query):
    """The test database through the service's own engine settings, tagged so its backends can be found."""
    url = db.url.update_query_dict(query)
    return make_engine(url.render_as_string(hide_password=False))


def _terminate(db, application_name: str) -> int:
    """What a database restart does to the service's connections (only this test's, not other runs')."""
    with db.connect() as conn:
        killed = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :name"
        ), {"name": application_name}).scalar()
        conn.commit()
    return killed


def test_after_the_backends_die_the_next_requests_succeed(pg_db, world, products):
    name = f"pv_outage_{os.getpid()}"
    engine = _app_engine(pg_db, application_name=name)
    app = create_app(clock=lambda: NOW, engine=engine)
    with TestClient(app) as client:
        patient = register(client, world.clinic, "OUT-1")
        treatment = treat(client, world.clinic, patient["id"])
        for i in range(3):  # fill both pools: the SQLAlchemy engine's and the intake's psycopg pool
            assert client.post("/v1/reports", json=report_payload(patient["id"], treatment["id"], case_id=f"W-{i}"),
                               headers=world.clinic.headers).status_code == 201
            assert client.get("/v1/products", headers=world.safety.headers).status_code == 200
        assert _terminate(pg_db, name) >= 2
        time.sleep(0.2)  # the backends are gone; the pools still hold their sockets
        for i in range(5):
            r = client.post("/v1/reports", json=report_payload(patient["id"], treatment["id"], case_id=f"A-{i}"),
                            headers=world.clinic.headers)
            assert r.status_code == 201, (i, r.status_code, r.text)
            r = client.get("/v1/products", headers=world.safety.headers)
            assert r.status_code == 200, (i, r.status_code, r.text)
            r = client.post("/v1/reports/batch", json={"reports": [
                report_payload(patient["id"], treatment["id"], case_id=f"B-{i}")]}, headers=world.clinic.headers)
            assert r.status_code in (200, 201, 207), (i, r.status_code, r.text)
    engine.dispose()


def test_an_unreachable_database_answers_503_with_retry_after_without_hanging(pg_db, world, products):
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")  # nothing listens on port 1
    app = create_app(clock=lambda: NOW, engine=engine)
    with TestClient(app) as client:
        for method, path, body in (("GET", "/v1/products", None), ("POST", "/v1/reports", report_payload(1, 1)),
                                   ("GET", "/health", None)):
            started = time.monotonic()
            r = client.request(method, path, json=body, headers=world.clinic.headers)
            assert time.monotonic() - started < 10
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json() == {"detail": "database unavailable; retry later"}
    engine.dispose()


def test_connections_bound_statement_and_connect_time(pg_db):
    engine = _app_engine(pg_db)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "30s"
    assert engine.pool._pre_ping and engine.pool._timeout <= 10
    engine.dispose()
