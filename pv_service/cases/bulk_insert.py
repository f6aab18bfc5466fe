"""Many rows into one table as one DBAPI executemany, without SQLAlchemy's per-row parameter work.

`conn.execute(insert(table), rows)` builds a parameter dict per row and runs every value through
its type's processor one by one; for the thousands of drug and reaction rows of an E2B batch that
cost more CPU than the database took to store them. Here the statement is compiled once per
dialect and column set, the same processors are applied, and the rows go to the driver as they
are. A table whose insert needs Python-side defaults takes SQLAlchemy's own path.
"""
from __future__ import annotations

from operator import itemgetter
from typing import Any

import sqlalchemy as sa

_compiled: dict[tuple, tuple | None] = {}


def _plan(table: sa.Table, dialect, keys: tuple[str, ...]) -> tuple | None:
    """(SQL, positional, names in bind order, [(index, processor)]) or None: use SQLAlchemy's path."""
    cache_key = (table, type(dialect), dialect.paramstyle, keys)
    if cache_key in _compiled:
        return _compiled[cache_key]
    compiled = sa.insert(table).compile(dialect=dialect, column_keys=list(keys))
    names = list(compiled.positiontup) if compiled.positional else list(compiled.bind_names.values())
    plan = None
    if not compiled.insert_prefetch and sorted(names) == sorted(keys) and len(set(names)) == len(names):
        processors = compiled._bind_processors
        plan = (compiled.string, compiled.positional, tuple(names),
                [(i, processors[n]) for i, n in enumerate(names) if n in processors])
    _compiled[cache_key] = plan
    return plan


def insert_rows(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """What conn.execute(sa.insert(table), rows) stores; every row has the first row's keys."""
    if not rows:
        return
    plan = _plan(table, conn.dialect, tuple(rows[0]))
    if plan is None:
        conn.execute(sa.insert(table), rows)
        return
    sql, positional, names, processors = plan
    get = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    params = []
    for row in rows:
        values = list(get(row))
        for i, process in processors:
            values[i] = process(values[i])
        params.append(tuple(values) if positional else dict(zip(names, values)))
    conn.exec_driver_sql(sql, params)
