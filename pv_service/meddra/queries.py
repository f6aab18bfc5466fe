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


# The levels spelt out, so the (version, level, code) key serves whatever the level.
_TERM = sa.select(_t).where(_t.c.version == sa.bindparam("version"), _t.c.level.in_(LEVELS),
                            _t.c.code == sa.bindparam("code"))
_PATH_LEVELS = ("pt", "hlt", "hlgt", "soc")
_names_of = {lv: _t.alias(f"{lv}_term") for lv in _PATH_LEVELS}


def _paths_statement(level: str) -> sa.Select:
    """Every path through a term of `level`, each level's name beside its code; for a PT all of them,
    above PT the distinct parts that matter (the levels above it and the one below)."""
    shown = _PATH_LEVELS if level == "pt" else _PATH_LEVELS[_PATH_LEVELS.index(level) - 1:]
    columns, stmt = [], _p
    for lv in shown:
        n = _names_of[lv]
        code = _p.c[f"{lv}_code"]
        stmt = stmt.join(n, (n.c.version == _p.c.version) & (n.c.level == lv) & (n.c.code == code))
        columns += [code.label(f"{lv}_code"), n.c.name.label(f"{lv}_name")]
    columns.append(_names_of["soc"].c.abbrev.label("soc_abbrev"))
    if level == "pt":
        columns.append(_p.c.is_primary)
    select = sa.select(*columns).select_from(stmt).where(_p.c.version == sa.bindparam("version"),
                                                         _p.c[f"{level}_code"] == sa.bindparam("code"))
    return select if level == "pt" else select.distinct()


# Built once (fixed text, so SQLAlchemy compiles each once): a term's detail is three statements.
_PATHS = {level: _paths_statement(level) for level in _PATH_LEVELS}


def _ref(row, level: str) -> dict[str, Any]:
    out = {"code": getattr(row, f"{level}_code"), "name": getattr(row, f"{level}_name")}
    if level == "soc":
        out["abbrev"] = row.soc_abbrev
    return out


def detail(conn, version: str, code: str, level: str | None) -> dict[str, Any]:
    """A term with every path up to its SOCs (the PT's primary one first and marked) and, for LLTs and
    PTs, its SMQ memberships (narrow or broad; via the term itself or its PT)."""
    rows = sorted((r for r in conn.execute(_TERM, {"version": version, "code": code}) if level in (None, r.level)),
                  key=lambda r: LEVELS.index(r.level))
    if not rows:
        raise NotFound(f"no term with code {code}{f' at level {level}' if level else ''} in MedDRA {version}")
    term = rows[0]
    out: dict[str, Any] = {"version": version, "level": term.level, "code": term.code, "name": term.name,
                           "current": term.current, "also_at_levels": [r.level for r in rows[1:]], "llt": None,
                           "pt": None, "primary_soc_code": None, "paths": [], "children": [], "smqs": []}
    if term.level in ("llt", "pt"):
        if term.level == "llt":
            out["llt"] = {"code": term.code, "name": term.name, "current": term.current}
        paths = sorted(conn.execute(_PATHS["pt"], {"version": version, "code": term.pt_code}),
                       key=lambda p: (not p.is_primary, p.soc_code, p.hlgt_code, p.hlt_code))
        out["pt"] = _ref(paths[0], "pt")
        out["primary_soc_code"] = paths[0].soc_code
        out["paths"] = [{"primary": p.is_primary, **{lv: _ref(p, lv) for lv in ("hlt", "hlgt", "soc")}} for p in paths]
        out["smqs"] = _smqs(conn, version, term.level, code, term.pt_code)
        return out
    # HLT, HLGT, SOC: the distinct paths above it, and the terms one level below.
    paths = conn.execute(_PATHS[term.level], {"version": version, "code": code}).all()
    above = _PATH_LEVELS[_PATH_LEVELS.index(term.level) + 1:]
    below = _PATH_LEVELS[_PATH_LEVELS.index(term.level) - 1]
    seen = {tuple(getattr(p, f"{lv}_code") for lv in above): p for p in paths}
    out["paths"] = [{"primary": None, **{lv: _ref(p, lv) for lv in above}} for _, p in sorted(seen.items())]
    children = {getattr(p, f"{below}_code"): p for p in paths}
    out["children"] = [{"level": below, **_ref(p, below)}
                       for p in sorted(children.values(), key=lambda p: (getattr(p, f"{below}_name"),
                                                                          getattr(p, f"{below}_code")))]
    return out


def _smq_statement(llt: bool) -> sa.Select:
    # Through the (version, pt_code) index: the PT's rows, and an LLT's own.
    match = _st.c.term_level == "pt"
    if llt:
        match = match | ((_st.c.term_level == "llt") & (_st.c.term_code == sa.bindparam("code")))
    return (sa.select(_st.c.smq_code, _st.c.term_level, _st.c.scope, _s.c.name, _s.c.smq_level, _s.c.status)
            .join(_s, (_s.c.version == _st.c.version) & (_s.c.smq_code == _st.c.smq_code))
            .where(_st.c.version == sa.bindparam("version"), _st.c.pt_code == sa.bindparam("pt_code"), match))


_SMQS = {"llt": _smq_statement(True), "pt": _smq_statement(False)}


def _smqs(conn, version: str, level: str, code: str, pt_code: str) -> list[dict[str, Any]]:
    params = {"version": version, "pt_code": pt_code, **({"code": code} if level == "llt" else {})}
    best: dict[str, Any] = {}
    for r in conn.execute(_SMQS[level], params):
        if r.smq_code not in best or (r.scope == "narrow" and best[r.smq_code].scope == "broad"):
            best[r.smq_code] = r
    return [{"code": r.smq_code, "name": r.name, "smq_level": r.smq_level, "status": r.status, "scope": r.scope,
             "via": r.term_level} for r in sorted(best.values(), key=lambda r: (r.scope != "narrow", r.name))]
