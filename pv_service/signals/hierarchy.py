"""The database route to MedDRA levels: case reactions' PT codes joined to a loaded version.

Everything is keyed by code. A reaction reaches an HLT, HLGT or SOC through the PT's
`meddra_path` rows (primary only, or all), and an SMQ through `meddra_smq_term` (its PT
listed, or its own LLT listed; narrow terms, or narrow and broad). Names are read from
the dictionary for display only. Pure counterpart: pv_service.signals.levels.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pv_service.cases.models import CaseReaction
from pv_service.meddra.distribution import Distribution
from pv_service.meddra.lookup import version_key
from pv_service.meddra.models import MeddraPath, MeddraSmq, MeddraSmqTerm, MeddraTerm, MeddraVersion

from .counts import SignalInputError
from .levels import Level

_path, _smq, _smq_term, _term = (m.__table__ for m in (MeddraPath, MeddraSmq, MeddraSmqTerm, MeddraTerm))


def loaded_versions(conn: Connection) -> list[str]:
    """Loaded MedDRA versions, newest first."""
    return sorted(conn.execute(sa.select(MeddraVersion.__table__.c.version)).scalars(), key=version_key, reverse=True)


def analysis_version(conn: Connection, version: str | None) -> str | None:
    """The version asked for, else the newest loaded; None when none is loaded. SignalInputError for an unloaded one."""
    loaded = loaded_versions(conn)
    if version is None:
        return loaded[0] if loaded else None
    if version not in loaded:
        raise SignalInputError(f"MedDRA {version} is not loaded (loaded: {', '.join(loaded) or 'none'})")
    return version


def level_event(level: Level, version: str | None):
    """How a select over case reactions reaches `level`: a function adding the joins, and the code column."""
    r = CaseReaction.__table__
    if level.level == "pt":
        return (lambda q: q), r.c.pt_code
    if version is None:
        raise SignalInputError(f"counting at level {level.label} needs a loaded MedDRA dictionary "
                               "(`pv-service meddra load DIR`)")
    if level.level == "smq":
        # The reaction's PT listed, or its own LLT (a listed LLT's row carries its PT): one lookup on the
        # (version, pt_code) index either way; an OR across two columns would scan the SMQ content.
        on = (_smq_term.c.version == version) & (_smq_term.c.pt_code == r.c.pt_code) & (
            (_smq_term.c.term_level == "pt") | (_smq_term.c.term_code == r.c.llt_code))
        if level.scope == "narrow":
            on = on & (_smq_term.c.scope == "narrow")
        active = sa.select(_smq.c.smq_code).where(_smq.c.version == version, _smq.c.status == "A")
        return (lambda q: q.join(_smq_term, on).where(_smq_term.c.smq_code.in_(active))), _smq_term.c.smq_code
    on = (_path.c.version == version) & (_path.c.pt_code == r.c.pt_code)
    if level.paths == "primary":
        on = on & _path.c.is_primary
    column = {"hlt": _path.c.hlt_code, "hlgt": _path.c.hlgt_code, "soc": _path.c.soc_code}[level.level]
    return (lambda q: q.join(_path, on)), column


def term_names(conn: Connection, level: Level, version: str | None, codes: Iterable[str]) -> dict[str, str]:
    """Display names of codes at `level`: the dictionary's; for a PT code it lacks (or with no
    dictionary), the first name submitted with the code, so a stray spelling renames nothing."""
    codes = sorted(set(codes))
    names: dict[str, str] = {}
    if codes and version is not None:
        if level.level == "smq":
            stmt = sa.select(_smq.c.smq_code, _smq.c.name).where(_smq.c.version == version)
            stmt = stmt.where(_smq.c.smq_code.in_(codes))
        else:
            stmt = sa.select(_term.c.code, _term.c.name).where(
                _term.c.version == version, _term.c.level == level.level, _term.c.code.in_(codes))
        names.update(conn.execute(stmt).all())
    rest = [c for c in codes if c not in names]
    if rest and level.level == "pt":
        names.update(conn.execute(sa.select(CaseReaction.pt_code, sa.func.min(CaseReaction.pt_name))
                                  .where(CaseReaction.pt_code.in_(rest)).group_by(CaseReaction.pt_code)).all())
    return names


def unmapped_pt_codes(conn: Connection, version: str, pt_codes: Sequence[str]) -> list[str]:
    """Which of these PT codes are not PTs of the version (their reactions reach no level above PT)."""
    known = set(conn.execute(sa.select(_term.c.code).where(
        _term.c.version == version, _term.c.level == "pt", _term.c.code.in_(sorted(set(pt_codes))))).scalars())
    return sorted(set(pt_codes) - known)


def resolve_pt_codes(conn: Connection, version: str | None, pt_codes: Sequence[str], hlt_codes: Sequence[str],
                     smqs: Sequence[tuple[str, str]]) -> tuple[set[str], list[str]]:
    """The PT codes a group stands for, and what could not be resolved (a reference the version lacks,
    or HLT/SMQ references with no dictionary loaded: only explicit PT codes work then)."""
    out = set(pt_codes)
    problems: list[str] = []
    if version is None:
        if hlt_codes or smqs:
            problems.append("HLT and SMQ references need a loaded MedDRA dictionary; only the explicit PT codes count")
        return out, problems
    for hlt in hlt_codes:
        found = set(conn.execute(sa.select(_path.c.pt_code).where(
            _path.c.version == version, _path.c.hlt_code == hlt)).scalars())
        if not found:
            problems.append(f"HLT {hlt} is not in MedDRA {version}")
        out |= found
    for smq, scope in smqs:
        stmt = sa.select(_smq_term.c.pt_code).where(_smq_term.c.version == version, _smq_term.c.smq_code == smq)
        if scope == "narrow":
            stmt = stmt.where(_smq_term.c.scope == "narrow")
        found = set(conn.execute(stmt).scalars())
        if not found:
            problems.append(f"SMQ {smq} has no {scope} terms in MedDRA {version}")
        out |= found
    return out, problems


def pts_by_term(conn: Connection, level: Level, version: str | None) -> dict[str, list[str]]:
    """Term code at `level` -> the stored reactions' PT codes that reach it (which cases are behind a pair)."""
    join, code = level_event(level, version)
    r = CaseReaction.__table__
    rows = conn.execute(join(sa.select(code.label("term"), r.c.pt_code).select_from(r)).distinct()).all()
    out: dict[str, list[str]] = {}
    for term, pt in sorted(rows):
        out.setdefault(term, []).append(pt)
    return out


def designated_groups(conn: Connection, groups, version: str | None) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """Each code-defined group's PT codes in `version` (designated medical events, adverse events of
    special interest), and per group what could not be resolved."""
    codes: dict[str, set[str]] = {}
    problems: dict[str, list[str]] = {}
    for g in groups:
        codes[g.name], issues = resolve_pt_codes(conn, version, g.pt_codes, g.hlt_codes,
                                                 [(s.code, s.scope) for s in g.smqs])
        if issues:
            problems[g.name] = issues
    return codes, problems


def stored_distribution(conn: Connection, version: str) -> Distribution:
    """A loaded version read back as the pure parser's Distribution (terms, paths, SMQs), for the analyst CLI."""
    dist = Distribution(version=version, language=None)
    dist.terms = [tuple(r) for r in conn.execute(sa.select(
        _term.c.level, _term.c.code, _term.c.name, _term.c.pt_code, _term.c.current, _term.c.primary_soc_code,
        _term.c.abbrev, _term.c.intl_order).where(_term.c.version == version))]
    dist.paths = [tuple(r) for r in conn.execute(sa.select(
        _path.c.pt_code, _path.c.hlt_code, _path.c.hlgt_code, _path.c.soc_code, _path.c.is_primary)
        .where(_path.c.version == version))]
    dist.smqs = [tuple(r) for r in conn.execute(sa.select(
        _smq.c.smq_code, _smq.c.name, _smq.c.smq_level, _smq.c.status, _smq.c.algorithm, _smq.c.description)
        .where(_smq.c.version == version))]
    dist.smq_terms = [tuple(r) for r in conn.execute(sa.select(
        _smq_term.c.smq_code, _smq_term.c.term_level, _smq_term.c.term_code, _smq_term.c.pt_code, _smq_term.c.scope,
        _smq_term.c.category).where(_smq_term.c.version == version))]
    return dist
