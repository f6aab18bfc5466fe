"""The migrated schema is exactly the models' schema, on each database."""
from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from pv_service.core.db import make_engine
from pv_service.core.migrate import pending_model_changes, upgrade


def test_empty_database_upgraded_to_head_matches_models(db):
    assert pending_model_changes(db) == []


def _rows_at_0004(engine) -> None:
    """One report with its organization, user, product, patient and treatment, as 0004 stored them."""
    import datetime as dt

    now = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)
    rows = [
        ("organization", dict(id=1, name="c", kind="clinic", country="CN", created_at=now)),
        ("app_user", dict(id=1, username="u", role="clinic", organization_id=1, is_active=True, created_at=now)),
        ("product", dict(id=1, code="P", inn="inn", trade_name="T", modality="car_t", mah_organization_id=1,
                         created_at=now)),
        ("patient", dict(id=1, clinic_id=1, pseudonym="ps", sex="female", birth_year=1970, created_at=now)),
        ("treatment", dict(id=1, patient_id=1, product_id=1, batch_number="B", infusion_date=dt.date(2025, 1, 1),
                           created_at=now)),
        ("safety_case", dict(id=1, sender_id=1, sender_case_id="K", patient_id=1, first_received=dt.date(2025, 2, 1),
                             latest_version_id=1, latest_version=0, created_at=now)),
        ("case_version", dict(id=1, case_id=1, version=0, content_hash="h", report_type="spontaneous",
                              received_date=dt.date(2025, 2, 1), latest_info_date=dt.date(2025, 2, 1),
                              reporter_qualification="physician", reporter_country="CN", serious=False, submitted_by=1,
                              created_at=now)),
        ("case_drug", dict(case_version_id=1, treatment_id=1, product_id=1, role="suspect")),
        ("case_reaction", dict(case_version_id=1, pt_code="X", pt_name="Y", outcome="unknown", death=False,
                               life_threatening=False, hospitalisation=False, disability=False,
                               congenital_anomaly=False, other_medically_important=False)),
    ]
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        for table, values in rows:
            conn.execute(meta.tables[table].insert().values(**values))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request, tmp_path):
    """A database with no tables at all, on each kind."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    from tests.conftest import IN_CI, PG_URL

    schema = f"pv_migrate_{os.getpid()}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except sa.exc.OperationalError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL unreachable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}")
    engine = sa.create_engine(sa.engine.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"}))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def test_a_database_holding_reports_upgrades_to_head_keeping_every_row(empty_engine):
    upgrade(empty_engine, "0004")
    _rows_at_0004(empty_engine)
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        counts = [conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("safety_case", "case_version", "case_drug", "case_reaction")]
    assert counts == [1, 1, 1, 1]
    assert pending_model_changes(empty_engine) == []


@pytest.mark.parametrize("table, column", [("safety_case", "sender_id"), ("case_version", "submitted_by"),
                                           ("case_drug", "product_id")])
def test_case_rows_cannot_name_an_organization_user_or_product_that_does_not_exist(empty_engine, table, column):
    upgrade(empty_engine, "0004")
    _rows_at_0004(empty_engine)
    upgrade(empty_engine)
    with pytest.raises(sa.exc.IntegrityError):
        with empty_engine.begin() as conn:
            if empty_engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.execute(sa.text(f"UPDATE {table} SET {column} = 999"))
    with empty_engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT {column} FROM {table}")).scalar_one() == 1
