"""Duplicates planted in the demo, so the duplicate review queue has something true to show.

Each is a demo case reported again under its own case id by a second sender, another demo clinic
the patient was referred to (as an E2B import would store it: the patient described, not
registered there), with the noise real duplicates carry: received later, another reporter, one
term left out. One more is a clinic resending a report unchanged under a new case id (identical content).
The nightly `duplicate-detection` job, run once by the demo, queues all of them for review.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, update
from sqlmodel import Session, select

from pv_service.cases.hashing import content_hash
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.patients.models import Patient, Treatment
from pv_service.products.models import Product

N_FORWARDED = 4
PLANTED_PREFIX, RESENT_SUFFIX = "REFERRED-", "-RESENT"  # how their sender case ids read
OTHER_QUALIFICATION = {"physician": "pharmacist", "pharmacist": "physician",
                       "other_health_professional": "physician", "consumer": "physician", "lawyer": "physician"}


def _copy(session: Session, case: Case, version: CaseVersion, *, sender_id: int, sender_case_id: str,
          recorded_by: int, now: dt.datetime, described: bool) -> int:
    patient = session.get(Patient, case.patient_id) if case.patient_id else None
    drugs = session.exec(select(CaseDrug).where(CaseDrug.case_version_id == version.id)).all()
    reactions = session.exec(select(CaseReaction).where(CaseReaction.case_version_id == version.id)
                             .order_by(CaseReaction.id)).all()
    received = version.received_date + dt.timedelta(days=9) if described else version.received_date
    new_case = session.execute(insert(Case).values(
        sender_id=sender_id, sender_case_id=sender_case_id, patient_id=None if described else case.patient_id,
        first_received=received, latest_version=0, created_at=now).returning(Case.id)).scalar_one()
    fields = {c: getattr(version, c) for c in [c.name for c in CaseVersion.__table__.columns]
              if c not in ("id", "case_id", "version", "created_at", "submitted_by")}
    if described:
        fields.update(received_date=received, latest_info_date=max(received, version.latest_info_date),
                      reporter_qualification=OTHER_QUALIFICATION.get(version.reporter_qualification, "physician"),
                      source_format="e2b", patient_sex=patient.sex if patient else None,
                      patient_birth_year=patient.birth_year if patient else None,
                      narrative="Reported again by the clinic the patient was referred to (demo duplicate).")
    vid = session.execute(insert(CaseVersion).values(case_id=new_case, version=0, submitted_by=recorded_by,
                                                     created_at=now, **fields).returning(CaseVersion.id)).scalar_one()
    for d in drugs:
        row = {c: getattr(d, c) for c in [c.name for c in CaseDrug.__table__.columns] if c not in ("id", "case_version_id")}
        if described and d.treatment_id is not None:
            t = session.get(Treatment, d.treatment_id)
            row.update(treatment_id=None, batch_lot=t.batch_number if t else None,
                       product_code=session.get(Product, d.product_id).code if d.product_id else None)
        session.execute(insert(CaseDrug).values(case_version_id=vid, **row))
    kept = reactions[:-1] if described and len(reactions) > 1 else reactions
    for r in kept:
        row = {c: getattr(r, c) for c in [c.name for c in CaseReaction.__table__.columns] if c not in ("id", "case_version_id")}
        session.execute(insert(CaseReaction).values(case_version_id=vid, **row))
    if described:  # its own content, hashed as stored
        digest = content_hash(
            {k: fields[k] for k in ("received_date", "reporter_qualification", "patient_sex", "patient_birth_year")},
            [{"product_id": d.product_id, "role": d.role} for d in drugs],
            [{"pt_code": r.pt_code, "onset_date": r.onset_date} for r in kept])
        session.execute(update(CaseVersion).where(CaseVersion.id == vid).values(content_hash=digest))
    session.execute(update(Case).where(Case.id == new_case).values(latest_version_id=vid))
    return new_case


def plant_duplicates(session: Session, now: dt.datetime, recorded_by: int,
                     clinic_ids: list[int]) -> list[tuple[int, int]]:
    """(original, duplicate) case ids planted: copies from another clinic, and one resend."""
    rows = session.exec(
        select(Case, CaseVersion, Product.id)
        .join(CaseVersion, CaseVersion.id == Case.latest_version_id)
        .join(CaseDrug, CaseDrug.case_version_id == CaseVersion.id)
        .join(Product, Product.id == CaseDrug.product_id)
        .where(CaseVersion.serious.is_(True), CaseDrug.role == "suspect", CaseVersion.nullification.is_(None))
        .order_by(Case.id).limit(200)).all()
    planted, used = [], set()
    for case, version, _ in rows:
        if case.id in used or len(planted) >= N_FORWARDED or len(clinic_ids) < 2:
            continue
        used.add(case.id)
        other = clinic_ids[(clinic_ids.index(case.sender_id) + 1) % len(clinic_ids)]
        dup = _copy(session, case, version, sender_id=other, sender_case_id=f"{PLANTED_PREFIX}{case.id}",
                    recorded_by=recorded_by, now=now, described=True)
        planted.append((case.id, dup))
    if rows:
        case, version, _ = rows[-1]
        planted.append((case.id, _copy(session, case, version, sender_id=case.sender_id,
                                       sender_case_id=f"{case.sender_case_id}{RESENT_SUFFIX}", recorded_by=recorded_by,
                                       now=now, described=False)))
    session.flush()
    return planted
