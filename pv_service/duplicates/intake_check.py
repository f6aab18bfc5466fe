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


def _read(conn, principal: Principal, new: Sequence[Submission], now: dt.datetime,
          rules: DuplicateRules | None) -> tuple[dict[str, list], dict[int, tuple[int, int]]]:
    """One round trip: the stored cases sharing each new content hash, and each patient's recent cases."""
    hashes = sorted({s.content_hash for s in new})
    same = (sa.select(sa.literal("h").label("kind"), Case.id.label("a"), Case.sender_id.label("b"),
                      CaseVersion.content_hash.label("h"), CaseVersion.created_at.label("at"))
            .join(CaseVersion, CaseVersion.id == Case.latest_version_id)
            .where(CaseVersion.content_hash.in_(hashes), not_nullified()))
    patients = sorted({s.patient_id for s in new if s.patient_id is not None})
    stmt = same
    if rules is not None and patients:
        start = now - dt.timedelta(days=rules.guards.patient_reports.days)
        stmt = sa.union_all(same, sa.select(
            sa.literal("p"), Case.patient_id, sa.func.count(), sa.literal(None, sa.String), sa.func.max(Case.created_at))
            .where(Case.patient_id.in_(patients), Case.created_at >= start).group_by(Case.patient_id))
    by_hash: dict[str, list] = {}
    per_patient: dict[int, int] = {}
    for kind, a, b, h, at in conn.execute(stmt):
        if kind == "h":
            by_hash.setdefault(h, []).append((a, b, at))
        else:
            per_patient[a] = b
    return by_hash, per_patient


# The same read as `_read`, for the intake's own psycopg connections (PostgreSQL, autocommit, one round trip).
_READ_PG = """
SELECT 'h', c.id, c.sender_id, v.content_hash, v.created_at
  FROM safety_case c JOIN case_version v ON v.id = c.latest_version_id
 WHERE v.content_hash = ANY(%(hashes)s) AND v.nullification IS DISTINCT FROM 'nullification'
UNION ALL
SELECT 'p', patient_id, count(*), NULL, max(created_at) FROM safety_case
 WHERE patient_id = ANY(%(patients)s) AND created_at >= %(start)s GROUP BY patient_id
"""


async def read_pg(conn, new: Sequence[Submission], now: dt.datetime,
                  rules: DuplicateRules | None) -> tuple[dict[str, list], dict[int, int]]:
    days = rules.guards.patient_reports.days if rules is not None else 0
    patients = sorted({s.patient_id for s in new if s.patient_id is not None}) if rules is not None else []
    cur = await conn.execute(_READ_PG, {"hashes": sorted({s.content_hash for s in new}), "patients": patients,
                                        "start": now - dt.timedelta(days=days)})
    by_hash: dict[str, list] = {}
    per_patient: dict[int, int] = {}
    for kind, a, b, h, at in await cur.fetchall():
        if kind == "h":
            by_hash.setdefault(h, []).append((a, b, at))
        else:
            per_patient[a] = b
    return by_hash, per_patient


def quiet(new: Sequence[Submission], by_hash: dict[str, list], per_patient: dict[int, int],
           rules: DuplicateRules | None) -> bool:
    """Neither identical content under another case nor a patient over the guard: nothing to write."""
    if any(len(by_hash.get(s.content_hash, ())) > 1 for s in new):
        return False
    return rules is None or not any(guards.patient_burst(n, rules.guards) for n in per_patient.values())


def check(session: Session, principal: Principal, subs: Sequence[Submission], now: dt.datetime,
          rules: DuplicateRules | None, read: tuple | None = None) -> dict[int, list[int]]:
    """Case id -> the caller's cases it may duplicate. Queues the pairs and raises guard alerts."""
    new = [s for s in subs if s.created and s.content_hash]
    if not new:
        return {}
    by_hash, per_patient = read or _read(session.connection(), principal, new, now, rules)
    others_of = {s.case_id: sorted(a for a, _, _ in by_hash.get(s.content_hash, ()) if a != s.case_id) for s in new}
    answer: dict[int, list[int]] = {}
    pairs = []
    named = sorted({o for others in others_of.values() for o in others})
    visible = set(session.connection().execute(sa.select(Case.id).where(
        Case.id.in_(named), case_filter(principal))).scalars()) if named else set()
    for s in new:
        others = others_of[s.case_id]
        if not others:
            continue
        pairs.append(clusters.PairIn(min(s.case_id, others[0]), max(s.case_id, others[0]), "content_hash", 1.0,
                                     {"rule": "content_hash", "shared": s.content_hash}))
        answer[s.case_id] = [o for o in others if o in visible][:MAX_NAMED]
    clusters.add_candidates(session, pairs, now)
    if rules is not None:
        _guards(session, principal, new, by_hash, per_patient, rules, now)
    return answer


def _guards(session: Session, principal: Principal, new: Sequence[Submission], by_hash: dict[str, list],
            per_patient: dict[int, int], rules: DuplicateRules, now: dt.datetime) -> None:
    g = rules.guards
    since = now - dt.timedelta(hours=g.identical_reports.hours)
    for h in {s.content_hash for s in new}:
        recent = sorted(a for a, sender, at in by_hash.get(h, ())
                        if sender == principal.organization_id and _aware(at) >= since)
        if guards.identical_burst(len(recent), g):
            guards.raise_or_refresh(session, guards.identical_spec(principal.organization_id, h, len(recent), g,
                                                                   recent), now)
    last = {s.patient_id: s.case_id for s in new if s.patient_id is not None}
    for patient_id, n in per_patient.items():
        if guards.patient_burst(n, g):
            guards.raise_or_refresh(session, guards.patient_spec(patient_id, n, g, [last[patient_id]]), now)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def safe_check(engine, principal: Principal, subs: Sequence[Submission], now: dt.datetime,
               read: tuple | None = None) -> dict[int, list[int]]:
    """The check in its own transaction; a failure is logged and the report stands as stored.
    `read`: what `read_pg` returned, when the caller read on PostgreSQL already."""
    from pv_service.core.db import session_scope
    from pv_service.jobs.definitions import current_rules

    try:
        rules = current_rules().duplicates
        new = [s for s in subs if s.created and s.content_hash]
        if not new:
            return {}
        if read is None:
            with engine.connect() as conn:  # the common case: one read, no session, nothing written
                read = _read(conn, principal, new, now, rules)
                conn.rollback()
        if quiet(new, *read, rules):
            return {}
        with session_scope(engine) as session:
            answer = check(session, principal, new, now, rules, read)
            session.commit()
        return answer
    except Exception:
        log.exception("duplicate check after intake failed; the reports are stored")
        return {}


async def after_intake(app, engine, principal: Principal, subs: Sequence[Submission],
                       now: dt.datetime) -> dict[int, list[int]]:
    """The check for the intake routes: on PostgreSQL the common case (no duplicate, no burst) is one
    read on the intake's own psycopg connections; anything to write goes through a session."""
    from starlette.concurrency import run_in_threadpool

    from pv_service.core import pg
    from pv_service.jobs.definitions import current_rules

    new = [s for s in subs if s.created and s.content_hash]
    if not new:
        return {}
    read = None
    if engine.dialect.name == "postgresql":
        try:
            rules = current_rules().duplicates
            async with pg.connection(app.state.pg_pools, engine) as conn:
                read = await read_pg(conn, new, now, rules)
            if quiet(new, *read, rules):
                return {}
        except Exception:
            log.exception("duplicate check after intake failed; the reports are stored")
            return {}
    return await run_in_threadpool(safe_check, engine, principal, new, now, read)
