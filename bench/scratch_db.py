"""A scratch database for a benchmark: a SQLite file in a temporary folder, or a schema of its
own in the local PostgreSQL (PV_BENCH_POSTGRES_URL, default the `test` database), dropped at the end."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from pv_service.core.db import make_engine

PG_URL = os.environ.get("PV_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def scratch_engine(kind: str, folder: Path, name: str) -> Iterator[sa.Engine]:
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{folder / f'{name}.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"bench_{name}_{os.getpid()}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine = sa.create_engine(sa.engine.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"}))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def bench_clinic(engine: sa.Engine, now, country: str = "CN"):
    """A clinic and one clinic user to submit as: (organization, user), both loaded."""
    from sqlmodel import Session

    from pv_service.auth.models import Organization, User

    with Session(engine, expire_on_commit=False) as s:
        org = Organization(name="Bench clinic", kind="clinic", country=country, created_at=now)
        s.add(org)
        s.flush()
        user = User(username="bench", role="clinic", organization_id=org.id, created_at=now)
        s.add(user)
        s.commit()
    return org, user
