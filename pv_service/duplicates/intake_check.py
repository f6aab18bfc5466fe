"""The check after a report is stored: identical content under another case id (a possible duplicate,
queued for review and named in the answer) and the data-quality guards. Two indexed queries; it never
refuses or undoes a stored report."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session

from pv_service.auth.principal import Principal
from pv_service.cases.access import case_filter, not_nullified
from pv_service.cases.intake import Submission
from pv_service.cases.models import Case, CaseVersion
from pv_service.duplicates import clusters, guards
from pv_service.rules.duplicates import DuplicateRules

log = logging.getLogger(__name__)
MAX_NAMED = 20  # possible_duplicate_of lists at most this many cases


def check(session: Session, principal: Principal, subs: Sequence[Submission], now: dt.datetime,
          rules: DuplicateRules | None) -> dict[int, list[int]]:
    """Case id -> the caller's cases it may duplicate. Queues the pairs and raises guard alerts."""
    new = [s for s in subs if s.created and s.content_hash]
    if not new:
        return {}
    hashes = sorted({s.content_hash for s in new})
    rows = session.connection().execute(
        sa.select(Case.id, Case.sender_id, CaseVersion.content_hash, CaseVersion.created_at)
        .join(CaseVersion, CaseVersion.id == Case.latest_version_id)
        .where(CaseVersion.content_hash.in_(hashes), not_nullified())).all()
    by_hash: dict[str, list] = {}
    for r in rows:
        by_hash.setdefault(r.content_hash, []).append(r)
    visible = set(session.connection().execute(sa.select(Case.id).where(
        Case.id.in_([r.id for r in rows]), case_filter(principal))).scalars()) if rows else set()
    answer: dict[int, list[int]] = {}
    pairs = []
    for s in new:
        others = sorted(r.id for r in by_hash.get(s.content_hash, ()) if r.id != s.case_id)
        if not others:
            continue
        pairs.append(clusters.PairIn(min(s.case_id, others[0]), max(s.case_id, others[0]), "content_hash", 1.0,
                                     {"rule": "content_hash", "shared": s.content_hash}))
        answer[s.case_id] = [o for o in others if o in visible][:MAX_NAMED]
    clusters.add_candidates(session, pairs, now)
    if rules is not None:
        _guards(session, principal, new, by_hash, rules, now)
    return answer


def _guards(session: Session, principal: Principal, new: Sequence[Submission], by_hash: dict[str, list],
            rules: DuplicateRules, now: dt.datetime) -> None:
    g = rules.guards
    since = now - dt.timedelta(hours=g.identical_reports.hours)
    for h in {s.content_hash for s in new}:
        recent = sorted(r.id for r in by_hash.get(h, ())
                        if r.sender_id == principal.organization_id and _aware(r.created_at) >= since)
        if guards.identical_burst(len(recent), g):
            guards.raise_or_refresh(session, guards.identical_spec(principal.organization_id, h, len(recent), g,
                                                                   recent), now)
    patients = sorted({s.patient_id for s in new if s.patient_id is not None})
    if not patients:
        return
    start = now - dt.timedelta(days=g.patient_reports.days)
    counts = session.connection().execute(
        sa.select(Case.patient_id, sa.func.count(), sa.func.max(Case.id))
        .where(Case.patient_id.in_(patients), Case.created_at >= start).group_by(Case.patient_id)).all()
    for patient_id, n, last in counts:
        if guards.patient_burst(n, g):
            guards.raise_or_refresh(session, guards.patient_spec(patient_id, n, g, [last]), now)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def safe_check(engine, principal: Principal, subs: Sequence[Submission], now: dt.datetime) -> dict[int, list[int]]:
    """The check in its own transaction; a failure is logged and the report stands as stored."""
    from pv_service.core.db import session_scope
    from pv_service.jobs.definitions import current_rules

    try:
        with session_scope(engine) as session:
            answer = check(session, principal, subs, now, current_rules().duplicates)
            session.commit()
        return answer
    except Exception:  # noqa: BLE001 - a valid report is never refused for its duplicate check
        log.exception("duplicate check after intake failed; the reports are stored")
        return {}
