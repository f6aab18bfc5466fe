"""Reading the identifiers the step-1 rules compare (pv_service.duplicates.rules), for given cases and
for the stored cases that could share one with them."""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pv_service.cases.access import not_nullified
from pv_service.cases.models import Case, CaseVersion
from pv_service.duplicates.rules import Identifiers

_COLS = (Case.id, Case.sender_case_id, CaseVersion.worldwide_id, CaseVersion.safety_report_id,
         CaseVersion.content_hash, CaseVersion.detail)


def _rows(session: Session, where) -> list[Identifiers]:
    stmt = sa.select(*_COLS).join(CaseVersion, CaseVersion.id == Case.latest_version_id).where(where, not_nullified())
    out = []
    for r in session.connection().execute(stmt):
        other = (r.detail or {}).get("other_case_ids") or [] if isinstance(r.detail, dict) else []
        out.append(Identifiers(r.id, r.sender_case_id, r.worldwide_id, r.safety_report_id,
                               tuple(str(i) for i in other if i), r.content_hash))
    return out


def for_cases(session: Session, case_ids: Sequence[int]) -> list[Identifiers]:
    out = []
    ids = sorted(set(case_ids))
    for start in range(0, len(ids), 500):
        out += _rows(session, Case.id.in_(ids[start:start + 500]))
    return out


def related(session: Session, new: list[Identifiers], reverse: bool = True) -> list[Identifiers]:
    """Stored cases sharing a content hash or an identifier with `new`, and the E2B cases naming others."""
    if not new:
        return []
    names = sorted({v for c in new for v in (c.worldwide_id, c.safety_report_id, c.sender_case_id, *c.other_ids) if v})
    hashes = sorted({c.content_hash for c in new})
    out: dict[int, Identifiers] = {}
    for start in range(0, max(len(names), len(hashes)), 300):
        n, h = names[start:start + 300], hashes[start:start + 300]
        conds = [CaseVersion.content_hash.in_(h)] if h else []
        if n:
            conds += [CaseVersion.worldwide_id.in_(n), CaseVersion.safety_report_id.in_(n), Case.sender_case_id.in_(n)]
        for c in _rows(session, sa.or_(*conds)):
            out[c.case_id] = c
    if not reverse:
        return list(out.values())
    # A stored case may name one of the new cases among its other identifiers (C.1.9.1.r.2): only E2B
    # versions carry them.
    for c in _rows(session, sa.and_(CaseVersion.source_format == "e2b", CaseVersion.detail.is_not(None))):
        if c.other_ids:
            out[c.case_id] = c
    return list(out.values())
