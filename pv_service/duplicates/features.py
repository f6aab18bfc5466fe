"""What the linkage compares of a case, read from its latest version (one query per table)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.duplicates.models import DuplicateFeature
from pv_service.patients.models import Patient, Treatment
from pv_service.products.models import Product

SUSPECT_ROLES = ("suspect", "interacting")
COLUMNS = ["case_id", "version_id", "sender_id", "sex", "birth_year", "age_group", "onset_date", "received_date",
           "country", "pts", "products", "batch", "qualification", "clinic_id"]


def _birth_year(registered: int | None, reported: int | None, age: float | None, unit: str | None,
                received: dt.date) -> int | None:
    if registered is not None:
        return registered
    if reported is not None:
        return reported
    if age is not None and (unit or "year") in ("year", "years", "a", "801"):
        return received.year - int(age)
    return None


def case_features(session: Session, case_ids: Sequence[int]) -> list[dict]:
    """One feature row per case (its latest version)."""
    if not case_ids:
        return []
    ids = sorted(set(case_ids))
    conn = session.connection()
    heads = conn.execute(
        sa.select(Case.id, Case.latest_version_id, Case.sender_id, Case.first_received, Patient.sex,
                  Patient.birth_year, Patient.clinic_id, CaseVersion.patient_sex, CaseVersion.patient_birth_year,
                  CaseVersion.patient_age, CaseVersion.patient_age_unit, CaseVersion.patient_age_group,
                  CaseVersion.reporter_country, CaseVersion.reporter_qualification)
        .join(CaseVersion, CaseVersion.id == Case.latest_version_id)
        .outerjoin(Patient, Patient.id == Case.patient_id)
        .where(Case.id.in_(ids))
    ).all()
    vids = [h.latest_version_id for h in heads]
    reactions: dict[int, list] = {}
    for vid, code, onset in conn.execute(sa.select(CaseReaction.case_version_id, CaseReaction.pt_code,
                                                   CaseReaction.onset_date).where(CaseReaction.case_version_id.in_(vids))):
        reactions.setdefault(vid, []).append((code, onset))
    drugs: dict[int, list] = {}
    for vid, code, reported, name, lot, treated_lot in conn.execute(
            sa.select(CaseDrug.case_version_id, Product.code, CaseDrug.product_code, CaseDrug.name_as_reported,
                      CaseDrug.batch_lot, Treatment.batch_number)
            .outerjoin(Product, Product.id == CaseDrug.product_id)
            .outerjoin(Treatment, Treatment.id == CaseDrug.treatment_id)
            .where(CaseDrug.case_version_id.in_(vids), CaseDrug.role.in_(SUSPECT_ROLES))):
        label = code or reported or (name or "").strip().upper() or None
        drugs.setdefault(vid, []).append((label, lot or treated_lot))
    rows = []
    for h in heads:
        r = reactions.get(h.latest_version_id, [])
        d = drugs.get(h.latest_version_id, [])
        onsets = [o for _, o in r if o is not None]
        lots = sorted(lot for _, lot in d if lot)
        rows.append({
            "case_id": h.id, "version_id": h.latest_version_id, "sender_id": h.sender_id,
            "sex": h.sex or h.patient_sex,
            "birth_year": _birth_year(h.birth_year, h.patient_birth_year, h.patient_age, h.patient_age_unit,
                                      h.first_received),
            "age_group": h.patient_age_group, "onset_date": min(onsets) if onsets else None,
            "received_date": h.first_received, "country": h.reporter_country,
            "pts": "|".join(sorted({c for c, _ in r})), "products": "|".join(sorted({p for p, _ in d if p})),
            "batch": lots[0] if lots else None, "clinic_id": h.clinic_id,
            # "unknown" (C.2.r.4 UNK) is no evidence either way: missing, as linkage treats it
            "qualification": None if h.reporter_qualification == "unknown" else h.reporter_qualification,
        })
    return rows


def store(session: Session, rows: list[dict]) -> None:
    """Replace the stored features of these cases."""
    if not rows:
        return
    ids = [r["case_id"] for r in rows]
    for start in range(0, len(ids), 500):
        session.execute(sa.delete(DuplicateFeature).where(DuplicateFeature.case_id.in_(ids[start:start + 500])))
    session.execute(sa.insert(DuplicateFeature), rows)


def stored_frame(session: Session, where=None) -> pd.DataFrame:
    """The stored features as the frame linkage.prepare reads (lists for the set-valued fields)."""
    stmt = sa.select(*[DuplicateFeature.__table__.c[c] for c in COLUMNS])
    if where is not None:
        stmt = stmt.where(where)
    return as_frame(session.connection().execute(stmt).mappings().all())


def as_frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["pts"] = frame["pts"].map(lambda s: [p for p in (s or "").split("|") if p])
    frame["products"] = frame["products"].map(lambda s: [p for p in (s or "").split("|") if p])
    frame["onset_date"] = pd.to_datetime(frame["onset_date"])
    frame["received_date"] = pd.to_datetime(frame["received_date"])
    frame["birth_year"] = frame["birth_year"].astype("Int64")
    return frame.rename(columns={"clinic_id": "clinic"})
