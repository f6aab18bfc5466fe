"""The nightly `duplicate-detection` job: incremental over the case versions received since its last run.

Each new or changed case gets its features stored, then identifier rules against every stored case,
then the linkage model against every stored case (blocked, so the cost grows with the new cases times
a block's size). Pairs go to the review queue (pv_service.duplicates.clusters); nothing is merged here.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session

from pv_service.cases.access import not_nullified
from pv_service.cases.models import Case, CaseVersion
from pv_service.duplicates import clusters, features, identifiers, linkage
from pv_service.duplicates.models import DuplicateFeature, DuplicateScan
from pv_service.duplicates.rules import identifier_candidates
from pv_service.rules import Rules


def identifier_pairs(session: Session, case_ids: list[int], reverse: bool = True) -> list[clusters.PairIn]:
    new = identifiers.for_cases(session, case_ids)
    known = identifiers.related(session, new, reverse=reverse)
    return [clusters.PairIn(c.case_a, c.case_b, c.method, 1.0, {"rule": c.method, "shared": c.evidence})
            for c in identifier_candidates(new, known)]


def linkage_pairs(session: Session, case_ids: list[int], model: dict, threshold: float) -> list[clusters.PairIn]:
    new = features.stored_frame(session, DuplicateFeature.case_id.in_(case_ids)) if len(case_ids) <= 5000 else \
        features.stored_frame(session).query("case_id in @case_ids")
    if new.empty:
        return []
    counted = sa.select(Case.id).where(not_nullified())
    existing = features.stored_frame(session, DuplicateFeature.case_id.in_(counted))
    scored = linkage.score_between(model, linkage.prepare(new), linkage.prepare(existing), threshold)
    return [clusters.PairIn(int(r.unique_id_l), int(r.unique_id_r), "linkage", round(float(r.match_probability), 6),
                            {"match_weight": round(float(r.match_weight), 3), "fields": linkage.agreement(r)})
            for r in scored.itertuples(index=False)]


def duplicate_detection(session: Session, now: dt.datetime, rules: Rules) -> dict:
    scan = session.get(DuplicateScan, 1) or DuplicateScan(id=1, last_version_id=0, scanned_at=now)
    conn = session.connection()
    top = conn.execute(sa.select(sa.func.max(CaseVersion.id))).scalar() or 0
    changed = sorted(conn.execute(sa.select(CaseVersion.case_id).where(CaseVersion.id > scan.last_version_id,
                                                                       CaseVersion.id <= top).distinct()).scalars())
    rows = features.case_features(session, changed)
    features.store(session, rows)
    nullified = set(conn.execute(sa.select(Case.id).where(sa.not_(not_nullified()))).scalars())
    live = [c for c in changed if c not in nullified]
    pairs = identifier_pairs(session, live)
    config = rules.duplicates
    scored = []
    if config is not None and live:
        have = {(p.case_a, p.case_b) for p in pairs}
        scored = [p for p in linkage_pairs(session, live, config.model, config.review_threshold)
                  if (min(p.case_a, p.case_b), max(p.case_a, p.case_b)) not in have]
    touched = clusters.add_candidates(session, pairs + scored, now)
    scan.last_version_id, scan.scanned_at = top, now
    session.add(scan)
    session.flush()
    return {"cases_scanned": len(changed), "identifier_pairs": len(pairs), "linkage_pairs": len(scored),
            "clusters_touched": len(touched), "through_version_id": top,
            "linkage": "off: alerts/duplicates.yaml is missing" if config is None else "on"}
