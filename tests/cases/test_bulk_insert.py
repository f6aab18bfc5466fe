"""bulk_insert.insert_rows against SQLAlchemy's own executemany: the same stored values, byte for byte
as the database gives them back, on both databases (the case_drug and case_reaction path)."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from pv_service.cases import bulk_insert
from pv_service.cases.models import CaseReaction
from pv_service.core.db import FiniteJSON, UTCDateTime

ROWS = [
    {"name": "aspirin 100% \"pure\" ü", "day": dt.date(2022, 6, 14), "at": dt.datetime(2022, 6, 14, 8, 30, tzinfo=dt.UTC),
     "flag": True, "dose": 2.5, "detail": {"b": [1, None, "x"], "a": {"nested": "%(name)s ?"}}, "ratio": {"v": float("inf")}},
    {"name": None, "day": None, "at": None, "flag": False, "dose": None, "detail": None, "ratio": None},
    {"name": "", "day": dt.date(1999, 1, 1), "at": dt.datetime(2022, 1, 1, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
     "flag": None, "dose": -0.0, "detail": [], "ratio": {"v": float("nan")}},
]


def _table(metadata: sa.MetaData, name: str, with_default: bool = False) -> sa.Table:
    extra = [sa.Column("tag", sa.String, default=lambda: "python default")] if with_default else []
    return sa.Table(name, metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String),
                    sa.Column("day", sa.Date), sa.Column("at", UTCDateTime), sa.Column("flag", sa.Boolean),
                    sa.Column("dose", sa.Float), sa.Column("detail", sa.JSON), sa.Column("ratio", FiniteJSON), *extra)


@pytest.fixture
def tables(engine):
    metadata = sa.MetaData()
    made = {k: _table(metadata, f"bulk_test_{k}", k.endswith("default")) for k in ("ours", "theirs", "ours_default",
                                                                                 "theirs_default")}
    metadata.create_all(engine)
    yield made
    metadata.drop_all(engine)


def _raw(conn, table: sa.Table) -> list[tuple]:
    return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY id")]


@pytest.mark.parametrize("default", [False, True], ids=["columns", "python default (SQLAlchemy's path)"])
def test_same_rows_as_sqlalchemy(engine, tables, default):
    suffix = "_default" if default else ""
    rows = [{"id": i + 1, **r} for i, r in enumerate(ROWS)]
    with engine.begin() as conn:
        bulk_insert.insert_rows(conn, tables["ours" + suffix], rows)
        conn.execute(sa.insert(tables["theirs" + suffix]), rows)
        ours, theirs = _raw(conn, tables["ours" + suffix]), _raw(conn, tables["theirs" + suffix])
        assert len(ours) == 3 and ours == theirs
        if default:
            assert {r[-1] for r in ours} == {"python default"}
        # Read back through the types too: the values went in as sent.
        got = conn.execute(sa.select(tables["ours" + suffix].c.name, tables["ours" + suffix].c.detail)
                           .order_by(tables["ours" + suffix].c.id)).all()
        assert [tuple(g) for g in got] == [(r["name"], r["detail"]) for r in ROWS]


def test_nothing_to_insert(engine, tables):
    with engine.begin() as conn:
        bulk_insert.insert_rows(conn, tables["ours"], [])
        assert _raw(conn, tables["ours"]) == []


def test_a_row_without_a_column_is_refused(engine, tables):
    with engine.connect() as conn, pytest.raises(KeyError):
        bulk_insert.insert_rows(conn, tables["ours"], [{"id": 1, **ROWS[0]}, {"id": 2, "name": "no other columns"}])


def test_the_reaction_table_compiles_to_the_fast_path(engine):
    """case_reaction has no Python-side defaults: its rows take one executemany."""
    keys = tuple(c.key for c in CaseReaction.__table__.columns if c.key != "id")
    plan = bulk_insert._plan(CaseReaction.__table__, engine.dialect, keys)
    assert plan is not None and sorted(plan[2]) == sorted(keys)
