"""Storing a checked distribution (pv_service.meddra.distribution) as one version, in one transaction.

Loading a version already loaded with the same content changes nothing; the same version
with other content is refused (a version is immutable once loaded: stored reactions were
coded against it). Rows go in bulk: COPY on PostgreSQL, executemany on SQLite.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pv_service.meddra.distribution import Distribution, fold, read_distribution
from pv_service.meddra.models import MeddraPath, MeddraSmq, MeddraSmqTerm, MeddraTerm, MeddraVersion


class VersionConflict(ValueError):
    """The version is loaded already, from other content."""


@dataclass(frozen=True)
class LoadResult:
    version: str
    loaded: bool  # False: that version was loaded already with this content; nothing changed
    counts: dict[str, int]
    content_hash: str


def _rows(dist: Distribution) -> list[tuple[type, tuple[str, ...], list[tuple]]]:
    """Each table's columns and rows, in insertion order (the version row first: the others refer to it)."""
    v = dist.version
    terms = [(v, level, code, name, fold(name), pt, current, soc, abbrev, order)
             for level, code, name, pt, current, soc, abbrev, order in dist.terms]
    return [
        (MeddraTerm, ("version", "level", "code", "name", "name_folded", "pt_code", "current", "primary_soc_code",
                      "abbrev", "intl_order"), terms),
        (MeddraPath, ("version", "pt_code", "hlt_code", "hlgt_code", "soc_code", "is_primary"),
         [(v, *p) for p in dist.paths]),
        (MeddraSmq, ("version", "smq_code", "name", "name_folded", "smq_level", "status", "algorithm", "description"),
         [(v, code, name, fold(name), level, status, algorithm, description)
          for code, name, level, status, algorithm, description in dist.smqs]),
        (MeddraSmqTerm, ("version", "smq_code", "term_level", "term_code", "pt_code", "scope", "category"),
         [(v, *t) for t in dist.smq_terms]),
    ]


def _copy(conn: Connection, model: type, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {model.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    conn.execute(sa.insert(model.__table__), [dict(zip(columns, row)) for row in rows])


def store(conn: Connection, dist: Distribution, now: dt.datetime) -> LoadResult:
    """Write the distribution inside the caller's transaction (nothing is written if it raises)."""
    counts = dist.counts()
    table = MeddraVersion.__table__
    existing = conn.execute(sa.select(table.c.content_hash).where(table.c.version == dist.version)).first()
    if existing is not None:
        if existing.content_hash == dist.content_hash:
            return LoadResult(dist.version, False, counts, dist.content_hash)
        raise VersionConflict(f"MedDRA {dist.version} is loaded already with other content; a loaded version "
                              "cannot change (stored reactions are coded against it)")
    conn.execute(sa.insert(table).values(version=dist.version, language=dist.language,
                                         content_hash=dist.content_hash, counts=counts, loaded_at=now))
    for model, columns, rows in _rows(dist):
        _copy(conn, model, columns, rows)
    if conn.dialect.name == "postgresql":
        # Fresh statistics, or the planner guesses from empty tables and scans them (4 ms a look-up, not 0.5).
        for model in (MeddraTerm, MeddraPath, MeddraSmq, MeddraSmqTerm):
            conn.exec_driver_sql(f"ANALYZE {model.__tablename__}")
    return LoadResult(dist.version, True, counts, dist.content_hash)


def load(engine: Engine, directory: Path, now: dt.datetime, version: str | None = None) -> LoadResult:
    """Read, check and store a distribution directory; raises MeddraFormatError or VersionConflict."""
    dist = read_distribution(directory, version)
    with engine.begin() as conn:
        return store(conn, dist, now)
