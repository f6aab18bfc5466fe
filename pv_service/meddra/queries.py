"""Reading the loaded dictionary for the API: versions, term search, a term with its hierarchy and SMQs."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from pv_service.common.errors import NotFound
from pv_service.meddra.distribution import LEVELS, fold
from pv_service.meddra.lookup import version_key
from pv_service.meddra.models import MeddraPath, MeddraSmq, MeddraSmqTerm, MeddraTerm, MeddraVersion

_t, _p, _s, _st, _v = (m.__table__ for m in (MeddraTerm, MeddraPath, MeddraSmq, MeddraSmqTerm, MeddraVersion))
_LEVEL_RANK = sa.case({level: i for i, level in enumerate(LEVELS)}, value=_t.c.level)


def versions(conn) -> list[Any]:
    rows = conn.execute(sa.select(_v.c.version, _v.c.language, _v.c.content_hash, _v.c.counts, _v.c.loaded_at)).all()
    return sorted(rows, key=lambda r: version_key(r.version), reverse=True)


def resolve_version(conn, version: str | None) -> str:
    """The version asked for, or the newest loaded; 404 naming what is loaded otherwise."""
    loaded = [r.version for r in versions(conn)]
    if not loaded:
        raise NotFound("no MedDRA dictionary is loaded (`pv-service meddra load DIR`)")
    if version is None:
        return loaded[0]
    if version not in loaded:
        raise NotFound(f"MedDRA version {version} is not loaded (loaded: {', '.join(loaded)})")
    return version


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(conn, version: str, q: str | None, level: str | None, offset: int, limit: int) -> tuple[list[Any], bool]:
    """Terms by code (all digits) or by name, case- and accent-insensitive; current terms first,
    then exact, then prefix matches, then by name. Returns a page of rows and whether more follow."""
    stmt = sa.select(_t.c.version, _t.c.level, _t.c.code, _t.c.name, _t.c.current, _t.c.pt_code).where(
        _t.c.version == version)
    if level is not None:
        stmt = stmt.where(_t.c.level == level)
    order = []
    if q is not None:
        folded = fold(q)
        if folded.isdigit():
            stmt = stmt.where(_t.c.code == folded)
        else:
            stmt = stmt.where(_t.c.name_folded.like(f"%{_escape_like(folded)}%", escape="\\"))
            order = [(_t.c.name_folded == folded).desc(),
                     _t.c.name_folded.like(f"{_escape_like(folded)}%", escape="\\").desc()]
    stmt = stmt.order_by(_t.c.current.desc(), *order, _LEVEL_RANK, _t.c.name_folded, _t.c.code)
    rows = conn.execute(stmt.offset(offset).limit(limit + 1)).all()
    return rows[:limit], len(rows) > limit


def _term(conn, version: str, code: str, level: str | None) -> Any:
    stmt = sa.select(_t).where(_t.c.version == version, _t.c.code == code)
    if level is not None:
        stmt = stmt.where(_t.c.level == level)
    rows = sorted(conn.execute(stmt).all(), key=lambda r: LEVELS.index(r.level))
    if not rows:
        at = f" at level {level}" if level else ""
        raise NotFound(f"no term with code {code}{at} in MedDRA {version}")
    return rows[0], [r.level for r in rows[1:]]


def _names(conn, version: str, codes: set[str]) -> dict[tuple[str, str], Any]:
    if not codes:
        return {}
    rows = conn.execute(sa.select(_t.c.level, _t.c.code, _t.c.name, _t.c.abbrev).where(
        _t.c.version == version, _t.c.code.in_(sorted(codes)), _t.c.level != "llt")).all()
    return {(r.level, r.code): r for r in rows}


def _ref(names, level: str, code: str) -> dict[str, Any]:
    row = names[(level, code)]
    out = {"code": code, "name": row.name}
    if level == "soc":
        out["abbrev"] = row.abbrev
    return out


def detail(conn, version: str, code: str, level: str | None) -> dict[str, Any]:
    """A term with every path up to its SOCs (the PT's primary one first and marked) and, for LLTs and
    PTs, its SMQ memberships (narrow or broad; via the term itself or its PT)."""
    term, other_levels = _term(conn, version, code, level)
    out: dict[str, Any] = {"version": version, "level": term.level, "code": term.code, "name": term.name,
                           "current": term.current, "also_at_levels": other_levels, "llt": None, "pt": None,
                           "primary_soc_code": None, "paths": [], "children": [], "smqs": []}
    pt_code = term.pt_code if term.level in ("llt", "pt") else None
    if term.level == "llt":
        out["llt"] = {"code": term.code, "name": term.name, "current": term.current}
    column = {"pt": _p.c.pt_code, "hlt": _p.c.hlt_code, "hlgt": _p.c.hlgt_code, "soc": _p.c.soc_code}
    key = pt_code if pt_code else code
    where_level = "pt" if pt_code else term.level
    paths = conn.execute(sa.select(_p).where(_p.c.version == version, column[where_level] == key)).all()
    names = _names(conn, version, {c for p in paths for c in (p.pt_code, p.hlt_code, p.hlgt_code, p.soc_code)})
    if pt_code:
        out["pt"] = _ref(names, "pt", pt_code)
        out["primary_soc_code"] = next(p.soc_code for p in paths if p.is_primary)
        for p in sorted(paths, key=lambda p: (not p.is_primary, p.soc_code, p.hlgt_code, p.hlt_code)):
            out["paths"].append({"primary": p.is_primary, "hlt": _ref(names, "hlt", p.hlt_code),
                                 "hlgt": _ref(names, "hlgt", p.hlgt_code), "soc": _ref(names, "soc", p.soc_code)})
        out["smqs"] = _smqs(conn, version, term.level, code, pt_code)
        return out
    # HLT, HLGT, SOC: the distinct paths above it, and the terms one level below.
    above = {"hlt": ("hlgt", "soc"), "hlgt": ("soc",), "soc": ()}[term.level]
    below = {"hlt": "pt", "hlgt": "hlt", "soc": "hlgt"}[term.level]
    seen = sorted({tuple(getattr(p, f"{lv}_code") for lv in above) for p in paths})
    out["paths"] = [{"primary": None, **{lv: _ref(names, lv, c) for lv, c in zip(above, codes)}} for codes in seen]
    out["children"] = [{"level": below, **_ref(names, below, c)}
                       for c in sorted({getattr(p, f"{below}_code") for p in paths}, key=lambda c: names[(below, c)].name)]
    return out


def _smqs(conn, version: str, level: str, code: str, pt_code: str) -> list[dict[str, Any]]:
    # Through the (version, pt_code) index: the PT's rows, and an LLT's own.
    match = _st.c.term_level == "pt"
    if level == "llt":
        match = match | ((_st.c.term_level == "llt") & (_st.c.term_code == code))
    rows = conn.execute(
        sa.select(_st.c.smq_code, _st.c.term_level, _st.c.scope, _s.c.name, _s.c.smq_level, _s.c.status)
        .join(_s, (_s.c.version == _st.c.version) & (_s.c.smq_code == _st.c.smq_code))
        .where(_st.c.version == version, _st.c.pt_code == pt_code, match)).all()
    best: dict[str, Any] = {}
    for r in rows:
        if r.smq_code not in best or (r.scope == "narrow" and best[r.smq_code].scope == "broad"):
            best[r.smq_code] = r
    return [{"code": r.smq_code, "name": r.name, "smq_level": r.smq_level, "status": r.status, "scope": r.scope,
             "via": r.term_level} for r in sorted(best.values(), key=lambda r: (r.scope != "narrow", r.name))]
