"""Candidate pairs into clusters for review: a pair joins the pending cluster of either case (two such
clusters merge); a pair already decided is never suggested again; a case already confirmed a
duplicate is represented by its master."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from pv_service.duplicates.models import DuplicateCluster, DuplicateOf, DuplicatePair


@dataclass(frozen=True)
class PairIn:
    case_a: int
    case_b: int
    method: str
    score: float
    detail: dict = field(default_factory=dict)


def _masters(session: Session, case_ids: set[int]) -> dict[int, int]:
    if not case_ids:
        return {}
    rows = session.exec(select(DuplicateOf.case_id, DuplicateOf.master_case_id)
                        .where(DuplicateOf.case_id.in_(sorted(case_ids)))).all()
    return dict(rows)


def add_candidates(session: Session, pairs: list[PairIn], now: dt.datetime) -> list[int]:
    """Store the new pairs; returns the ids of the clusters that got one."""
    if not pairs:
        return []
    masters = _masters(session, {p.case_a for p in pairs} | {p.case_b for p in pairs})
    wanted: dict[tuple[int, int], PairIn] = {}
    for p in pairs:
        a, b = masters.get(p.case_a, p.case_a), masters.get(p.case_b, p.case_b)
        if a == b:
            continue
        key = (min(a, b), max(a, b))
        if key not in wanted or wanted[key].score < p.score:
            wanted[key] = PairIn(key[0], key[1], p.method, p.score, p.detail)
    existing = set()
    keys = list(wanted)
    for start in range(0, len(keys), 300):
        chunk = keys[start:start + 300]
        existing |= set(session.exec(select(DuplicatePair.case_a, DuplicatePair.case_b).where(
            sa.tuple_(DuplicatePair.case_a, DuplicatePair.case_b).in_(chunk))).all())
    touched: set[int] = set()
    for key, p in wanted.items():
        if key in existing:
            continue  # pending, confirmed or rejected: decided pairs are not suggested again
        cluster = _cluster_for(session, key, p.score, now)
        session.add(DuplicatePair(cluster_id=cluster.id, case_a=key[0], case_b=key[1], method=p.method,
                                  score=p.score, detail=p.detail, status="pending", created_at=now))
        session.flush()
        touched.add(cluster.id)
    return sorted(touched)


def _cluster_for(session: Session, key: tuple[int, int], score: float, now: dt.datetime) -> DuplicateCluster:
    found = session.exec(
        select(DuplicateCluster).join(DuplicatePair, DuplicatePair.cluster_id == DuplicateCluster.id)
        .where(DuplicateCluster.status == "pending",
               sa.or_(DuplicatePair.case_a.in_(key), DuplicatePair.case_b.in_(key)))
        .order_by(DuplicateCluster.id)
    ).unique().all()
    found = list({c.id: c for c in found}.values())
    if not found:
        cluster = DuplicateCluster(status="pending", score=score, created_at=now, updated_at=now)
        session.add(cluster)
        session.flush()
        return cluster
    keep, *others = found
    for other in others:  # the new pair joins two pending clusters: one cluster now
        session.execute(sa.update(DuplicatePair).where(DuplicatePair.cluster_id == other.id)
                        .values(cluster_id=keep.id))
        keep.score = max(keep.score, other.score)
        session.delete(other)
    keep.score = max(keep.score, score)
    keep.updated_at = now
    session.add(keep)
    session.flush()
    return keep


def members(session: Session, cluster_id: int) -> list[int]:
    rows = session.exec(select(DuplicatePair.case_a, DuplicatePair.case_b)
                        .where(DuplicatePair.cluster_id == cluster_id)).all()
    return sorted({c for pair in rows for c in pair})
