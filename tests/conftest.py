"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from PV_TEST_POSTGRES_URL (default: the local server's `test` database);
each test process works in a schema of its own (pv_test_<pid>), dropped at the end.
Outside CI an unreachable PostgreSQL skips those tests with a message; with CI set it fails.
"""
from __future__ import annotations

import datetime as dt
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Before anything reads the settings: the service's default is production, which needs real keys.
os.environ.setdefault("PV_ENVIRONMENT", "test")

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, SQLModel

import pv_service.models  # noqa: F401
from pv_service.app import create_app
from pv_service.audit.triggers import create_statements, drop_statements
from pv_service.auth.models import Organization, User
from pv_service.auth.security import create_access_token
from pv_service.core.db import make_engine
from pv_service.core.migrate import upgrade
from pv_service.core.settings import get_settings

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
# Rules the pure-engine tests are worked by hand from (kept equal to the shipped ones by tests/rules).
RULES_FIXTURE = Path(__file__).resolve().parent / "rules" / "fixture_alerts"
PG_URL = os.environ.get("PV_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _postgres_engine(suffix: str = ""):
    """A fresh schema of its own per test process, so concurrent runs cannot trample each other."""
    probe = make_engine(PG_URL)
    try:
        with probe.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        message = f"PostgreSQL unreachable at {PG_URL}: {str(exc.orig).strip()}"
        if IN_CI:
            pytest.fail(f"{message} (CI is set, so PostgreSQL tests must run)", pytrace=False)
        pytest.skip(f"{message}; set PV_TEST_POSTGRES_URL or start PostgreSQL to run these")
    finally:
        probe.dispose()
    schema = f"pv_test_{os.getpid()}{suffix}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    # search_path in the URL (not connect_args), so the app's asynchronous psycopg pool gets it too.
    url = sa.engine.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = sa.create_engine(url, pool_size=10, max_overflow=10)
    return engine, admin, schema


def concurrently(fn, n: int = 2) -> list:
    """fn() from n threads released at once; what each returned, in the order they finished."""
    barrier, results = threading.Barrier(n), []

    def run():
        barrier.wait()
        results.append(fn())

    threads = [threading.Thread(target=run) for _ in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def D(s: str | None) -> dt.date | None:
    """A date from ISO text, for tables of hand-worked cases."""
    return dt.date.fromisoformat(s) if s else None


@pytest.fixture(scope="session")
def rules():
    from pv_service.rules import load_rules

    return load_rules(RULES_FIXTURE)


@contextmanager
def _session_engine(kind: str, tmp_path_factory, suffix: str = ""):
    """A migrated database of the given kind for a whole session, dropped at the end."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    engine, admin, schema = _postgres_engine(suffix)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine(request, tmp_path_factory):
    with _session_engine(request.param, tmp_path_factory) as engine:
        yield engine


def _empty(engine) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            # The audit trail refuses DELETE; lift the trigger for the purge between tests only.
            for statement in drop_statements("sqlite"):
                conn.execute(sa.text(statement))
            for name in tables:
                conn.execute(sa.text(f"DELETE FROM {name}"))
            for statement in create_statements("sqlite"):
                conn.execute(sa.text(statement))


@pytest.fixture
def db(engine):
    """A migrated, empty database for one test."""
    yield engine
    _empty(engine)


@pytest.fixture
def session(db):
    with Session(db, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def app(db):
    return create_app(clock=lambda: NOW, engine=db)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@dataclass
class Actor:
    user: User
    headers: dict[str, str]

    @property
    def org_id(self) -> int | None:
        return self.user.organization_id


@dataclass
class World:
    clinic_a: Organization
    clinic_b: Organization
    mah_a: Organization
    mah_b: Organization
    operator: Organization
    admin: Actor
    safety: Actor
    clinic: Actor
    other_clinic: Actor
    mah: Actor
    other_mah: Actor


def token_headers(user: User) -> dict[str, str]:
    token = create_access_token(user.id, user.role, get_settings().secret_key, 60, NOW)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(session) -> World:
    """Two clinics, two MAHs, one operator, a user per role (tokens minted directly)."""
    def org(name, kind, country):
        o = Organization(name=name, kind=kind, country=country, created_at=NOW)
        session.add(o)
        session.flush()
        return o

    def user(name, role, org_):
        u = User(username=name, role=role, organization_id=org_.id if org_ else None, created_at=NOW)
        session.add(u)
        session.flush()
        return Actor(u, token_headers(u))

    clinic_a, clinic_b = org("Clinic A", "clinic", "CN"), org("Clinic B", "clinic", "US")
    mah_a, mah_b = org("MAH A", "mah", "CN"), org("MAH B", "mah", "US")
    operator = org("Operator", "operator", None)
    w = World(
        clinic_a, clinic_b, mah_a, mah_b, operator,
        admin=user("admin", "admin", operator), safety=user("safety", "safety_officer", operator),
        clinic=user("clinic-a", "clinic", clinic_a), other_clinic=user("clinic-b", "clinic", clinic_b),
        mah=user("mah-a", "mah", mah_a), other_mah=user("mah-b", "mah", mah_b),
    )
    session.commit()
    return w


# The demo as `pv-service demo --no-serve --patients 500` builds it: the size at which a
# designated medical event (T-cell malignancy) first appears, with zero cells in its table.
DEMO_PATIENTS = 500
DEMO_ROLES = {"admin": "demo-admin", "safety_officer": "demo-safety", "clinic": "demo-clinic", "mah": "demo-mah"}


@dataclass
class SeededDemo:
    engine: sa.engine.Engine
    dialect: str
    job_runs: list  # the JobRun of every job's first run, in JOBS order
    users: dict[str, User]  # role -> the demo's user of that role

    def headers(self, role: str) -> dict[str, str]:
        return token_headers(self.users[role])


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def seeded_demo(request, tmp_path_factory) -> SeededDemo:
    """Products, the synthetic cohort and one manual run of every job, once per database per session.

    Read-only for the tests that use it: they share it across the session.
    """
    from sqlmodel import select

    from pv_service.demo.load import load_demo
    from pv_service.jobs.definitions import JOBS
    from pv_service.jobs.runner import run_job
    from pv_service.products.seed import seed_products

    with _session_engine(request.param, tmp_path_factory, suffix="_demo") as engine:
        with Session(engine) as s:
            seed_products(s, NOW)
            load_demo(s, NOW, n_patients=DEMO_PATIENTS)
            s.commit()
        runs = [run_job(engine, spec, lambda: NOW, trigger="manual") for spec in JOBS.values()]
        with Session(engine, expire_on_commit=False) as s:
            users = {u.role: u for u in s.exec(select(User).where(User.username.in_(DEMO_ROLES.values())))}
        yield SeededDemo(engine, request.param, runs, users)
