"""Reviewing duplicate clusters: confirm (pick or accept the master), reject, undo; each audited.

A confirmed duplicate keeps its own versions and dates as received (GVP VI Addendum I); it only
leaves the counts (pv_service.cases.access.counted_case), and its master lists its references.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session, select

from pv_service.audit import chain as audit
from pv_service.auth.principal import Principal
from pv_service.cases.models import Case, CaseVersion
from pv_service.common.errors import Conflict, InvalidInput, NotFound
from pv_service.duplicates import clusters, features
from pv_service.duplicates.models import DuplicateCluster, DuplicateOf, DuplicatePair
from pv_service.duplicates.schemas import (
    ClusterPublic,
    ConfirmIn,
    DecisionIn,
    MemberPublic,
    PairPublic,
)

COMPARED_FIELDS = ("sex", "birth_year", "age_group", "onset_date", "received_date", "country", "pts", "products",
                   "batch", "qualification", "clinic_id")


def get_cluster(session: Session, cluster_id: int) -> DuplicateCluster:
    cluster = session.get(DuplicateCluster, cluster_id)
    if cluster is None:
        raise NotFound("no such duplicate cluster")
    return cluster


def describe(session: Session, cluster: DuplicateCluster) -> ClusterPublic:
    ids = clusters.members(session, cluster.id)
    cases = {c.id: c for c in session.exec(select(Case).where(Case.id.in_(ids)))}
    worldwide = dict(session.exec(select(CaseVersion.case_id, CaseVersion.worldwide_id).where(
        CaseVersion.id.in_([c.latest_version_id for c in cases.values()]))).all())
    masters = dict(session.exec(select(DuplicateOf.case_id, DuplicateOf.master_case_id)
                                .where(DuplicateOf.case_id.in_(ids))).all())
    feats = {f["case_id"]: f for f in features.case_features(session, ids)}
    members = []
    for cid in ids:
        c, f = cases[cid], feats.get(cid, {})
        members.append(MemberPublic(
            case_id=cid, sender_id=c.sender_id, sender_case_id=c.sender_case_id, worldwide_id=worldwide.get(cid),
            first_received=c.first_received, latest_version=c.latest_version, is_master=cid == cluster.master_case_id,
            duplicate_of=masters.get(cid),
            fields={k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in f.items() if k in COMPARED_FIELDS}))
    agree, disagree = [], []
    for name in COMPARED_FIELDS:
        values = {m.fields.get(name) for m in members}
        if len(values) == 1 and None not in values and "" not in values:
            agree.append(name)
        elif len(values - {None, ""}) > 1:
            disagree.append(name)
    refs = [f"{m.sender_id}:{m.sender_case_id}" + (f" ({m.worldwide_id})" if m.worldwide_id else "")
            for m in sorted(members, key=lambda m: (not m.is_master, m.case_id))]
    pairs = session.exec(select(DuplicatePair).where(DuplicatePair.cluster_id == cluster.id)
                         .order_by(DuplicatePair.score.desc(), DuplicatePair.id)).all()
    return ClusterPublic(
        id=cluster.id, status=cluster.status, score=cluster.score, master_case_id=cluster.master_case_id,
        created_at=cluster.created_at, updated_at=cluster.updated_at, decided_by=cluster.decided_by,
        decided_at=cluster.decided_at, comment=cluster.comment, agree=agree, disagree=disagree,
        references=refs if cluster.status == "confirmed" else [], members=members,
        pairs=[PairPublic.model_validate(p) for p in pairs])


def _decided(session: Session, cluster: DuplicateCluster, principal: Principal, now: dt.datetime, status: str,
             comment: str | None) -> None:
    cluster.status, cluster.decided_by, cluster.decided_at, cluster.updated_at = status, principal.user_id, now, now
    cluster.comment = comment
    session.add(cluster)


def _pairs_to(session: Session, cluster_id: int, status: str) -> None:
    session.execute(sa.update(DuplicatePair).where(DuplicatePair.cluster_id == cluster_id).values(status=status))


def _record(session: Session, principal: Principal, cluster: DuplicateCluster, action: str, before: dict,
            after: dict, now: dt.datetime) -> None:
    audit.record(session, actor_id=principal.user_id, actor=principal.username, entity_type="duplicate_cluster",
                 entity_id=cluster.id, action=action, before=before, after=after, now=now)


def _pending(cluster: DuplicateCluster, verb: str) -> None:
    if cluster.status != "pending":
        raise Conflict(f"cluster {cluster.id} is {cluster.status}: undo that decision before you {verb} it")


def confirm(session: Session, principal: Principal, cluster: DuplicateCluster, body: ConfirmIn,
            now: dt.datetime) -> DuplicateCluster:
    _pending(cluster, "confirm")
    ids = clusters.members(session, cluster.id)
    already = dict(session.exec(select(DuplicateOf.case_id, DuplicateOf.master_case_id)
                                .where(DuplicateOf.case_id.in_(ids))).all())
    if body.master_case_id is not None:
        if body.master_case_id not in ids:
            raise InvalidInput.one(("body", "master_case_id"), f"must be one of the cluster's cases {ids}")
        master = body.master_case_id
    else:
        free = session.exec(select(Case.id).where(Case.id.in_([i for i in ids if i not in already]))
                            .order_by(Case.first_received, Case.id)).all()
        if not free:
            raise Conflict(f"every case of cluster {cluster.id} is already a confirmed duplicate")
        master = free[0]
    if already:
        cid, of = next(iter(already.items()))
        raise Conflict(f"case {cid} is already a confirmed duplicate of case {of}: undo that cluster first")
    duplicates = [i for i in ids if i != master]
    for cid in duplicates:
        session.add(DuplicateOf(case_id=cid, master_case_id=master, cluster_id=cluster.id, confirmed_at=now))
    cluster.master_case_id = master
    _decided(session, cluster, principal, now, "confirmed", body.comment)
    _pairs_to(session, cluster.id, "confirmed")
    session.flush()
    _record(session, principal, cluster, "confirmed", {"status": "pending"},
            {"status": "confirmed", "master_case_id": master, "duplicate_case_ids": duplicates,
             "comment": body.comment}, now)
    return cluster


def reject(session: Session, principal: Principal, cluster: DuplicateCluster, body: DecisionIn,
           now: dt.datetime) -> DuplicateCluster:
    _pending(cluster, "reject")
    _decided(session, cluster, principal, now, "rejected", body.comment)
    _pairs_to(session, cluster.id, "rejected")
    session.flush()
    _record(session, principal, cluster, "rejected", {"status": "pending"},
            {"status": "rejected", "case_ids": clusters.members(session, cluster.id), "comment": body.comment}, now)
    return cluster


def undo(session: Session, principal: Principal, cluster: DuplicateCluster, body: DecisionIn,
         now: dt.datetime) -> DuplicateCluster:
    if cluster.status == "pending":
        raise Conflict(f"cluster {cluster.id} is pending: there is no decision to undo")
    before = {"status": cluster.status, "master_case_id": cluster.master_case_id}
    session.execute(sa.delete(DuplicateOf).where(DuplicateOf.cluster_id == cluster.id))
    cluster.master_case_id = None
    _decided(session, cluster, principal, now, "pending", body.comment)
    cluster.decided_by = cluster.decided_at = None
    _pairs_to(session, cluster.id, "pending")
    session.flush()
    _record(session, principal, cluster, "undone", before, {"status": "pending", "comment": body.comment}, now)
    return cluster
