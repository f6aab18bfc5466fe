"""The coding look-up intake uses: LLT and PT by code, from an in-process copy of each loaded version.

A version is immutable once loaded (pv_service.meddra.loader), so its copy is keyed by its
content hash and never goes stale; the stores read which versions are loaded (a tiny
query, or a sub-select of their one read on PostgreSQL) and fetch a version's rows only
the first time a process meets it. Pure apart from the rows handed in.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from pv_service.meddra.distribution import fold
from pv_service.meddra.models import MeddraTerm, MeddraVersion


@dataclass(frozen=True, slots=True)
class Llt:
    name: str
    folded: str
    pt_code: str
    current: bool


@dataclass(frozen=True, slots=True)
class Pt:
    name: str
    folded: str
    soc_code: str


@dataclass(frozen=True)
class Dictionary:
    version: str
    content_hash: str
    llts: dict[str, Llt]
    pts: dict[str, Pt]

    @classmethod
    def of(cls, version: str, content_hash: str, rows: Iterable[tuple]) -> "Dictionary":
        """rows: (level, code, name, name_folded, pt_code, current, primary_soc_code) of the LLTs and PTs."""
        llts, pts = {}, {}
        for level, code, name, folded, pt_code, current, soc in rows:
            if level == "llt":
                llts[code] = Llt(name, folded, pt_code, bool(current))
            else:
                pts[code] = Pt(name, folded, soc)
        return cls(version, content_hash, llts, pts)


def version_key(version: str) -> tuple[int, ...]:
    """27.1 < 27.10? MedDRA has no such versions; 9.1 < 10.0 < 27.1 numerically."""
    return tuple(int(p) for p in version.split("."))


_t = MeddraTerm.__table__
_v = MeddraVersion.__table__
LOADED = sa.select(_v.c.version, _v.c.content_hash)
TERMS = (sa.select(_t.c.level, _t.c.code, _t.c.name, _t.c.name_folded, _t.c.pt_code, _t.c.current,
                   _t.c.primary_soc_code)
         .where(_t.c.version == sa.bindparam("version"), _t.c.level.in_(("llt", "pt"))))
# The same for the psycopg stores (a literal statement with %(version)s).
TERMS_SQL = (f"SELECT level, code, name, name_folded, pt_code, current, primary_soc_code FROM {_t.name} "
             "WHERE version = %(version)s AND level IN ('llt', 'pt')")


class DictionaryCache:
    """Loaded versions' look-ups by content hash, shared by the threads of a process."""

    def __init__(self) -> None:
        self._by_hash: dict[str, Dictionary] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._by_hash.clear()

    def get(self, version: str, content_hash: str) -> Dictionary | None:
        return self._by_hash.get(content_hash)

    def put(self, version: str, content_hash: str, rows: Iterable[tuple]) -> Dictionary:
        built = Dictionary.of(version, content_hash, rows)
        with self._lock:
            return self._by_hash.setdefault(content_hash, built)

    def loaded(self, versions: Iterable[tuple[str, str]], fetch: Callable[[str], Iterable[tuple]]) -> dict[str, Dictionary]:
        """version -> Dictionary for every (version, content_hash) loaded; `fetch(version)` gives rows of a new one."""
        out = {}
        for version, content_hash in versions:
            d = self.get(version, content_hash)
            out[version] = d if d is not None else self.put(version, content_hash, fetch(version))
        return out


CACHE = DictionaryCache()


def loaded_dictionaries(conn) -> dict[str, Dictionary]:
    """Every loaded version's look-up, through a SQLAlchemy connection (one small query once cached)."""
    return CACHE.loaded(conn.execute(LOADED).all(), lambda v: conn.execute(TERMS, {"version": v}).all())


__all__ = ["CACHE", "Dictionary", "DictionaryCache", "Llt", "Pt", "fold", "loaded_dictionaries", "version_key"]
