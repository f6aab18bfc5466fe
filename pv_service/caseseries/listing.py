"""The line listing of an alert's cases: one row per case (its latest version), read in three
queries and shaped in pandas, so the page, its filters and the CSV/Excel exports share one frame.

Expectedness is read when the database holds it (per reaction, by jurisdiction); until then the
column says "not assessed" rather than guess.
"""
from __future__ import annotations

import datetime as dt
import gc
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from pv_service.alerting.models import Alert
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.caseseries.selection import (
    SUSPECT_ROLES,
    alert_product_id,
    reaction_match,
    series_conditions,
)
from pv_service.followup.models import FollowupContact
from pv_service.patients.models import Patient, Treatment
from pv_service.products.models import Product
from pv_service.rsi.models import ReactionExpectedness

NARRATIVE_EXCERPT = 160
NOT_ASSESSED = "not assessed"
SERIOUSNESS = ("death", "life_threatening", "hospitalisation", "disability", "congenital_anomaly",
               "other_medically_important")
# UCUM units of E2B D.2.2b, in years.
AGE_UNIT_YEARS = {"a": 1.0, "{decade}": 10.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25, "h": 1 / 8766}
COLUMNS = ["case_id", "sender_case_id", "version", "report_type", "first_received", "country", "age_years", "sex",
           "product", "lot", "infusion_date", "onset_date", "days_to_onset", "serious", "seriousness", "reactions",
           "outcome", "expectedness", "transgene_in_tumour", "vector_test", "narrative_excerpt"]


def _frame(conn, stmt, columns) -> pd.DataFrame:
    return pd.DataFrame(conn.execute(stmt).all(), columns=columns)


def _age_years(age, unit, birth_year, received) -> float | None:
    if age is not None and not pd.isna(age):
        factor = AGE_UNIT_YEARS.get(unit or "a")
        return round(float(age) * factor, 1) if factor else None
    if birth_year is not None and not pd.isna(birth_year) and received is not None:
        # Birth taken as 2 July of the stored year (as the cohort analytics do).
        return round((received - dt.date(int(birth_year), 7, 2)).days / 365.25, 1)
    return None


def _expectedness(conn, reaction_ids: list[int]) -> dict[int, str]:
    """Per reaction "FDA: listed; NMPA: unlisted", as assessed at receipt (pv_service.rsi); absent until the
    reporting-clocks job has assessed it."""
    t = ReactionExpectedness.__table__
    out: dict[int, list[str]] = {}
    for start in range(0, len(reaction_ids), 5000):
        for rid, juris, v in conn.execute(sa.select(t.c.case_reaction_id, t.c.jurisdiction, t.c.expectedness).where(
                t.c.case_reaction_id.in_(reaction_ids[start:start + 5000])).order_by(t.c.jurisdiction)):
            out.setdefault(rid, []).append(f"{juris}: {v}")
    return {rid: "; ".join(v) for rid, v in out.items()}


def _vector_tests(conn, treatments) -> dict[int, str]:
    """The latest vector (RCL) test result recorded at a follow-up visit, per treatment of `treatments` (a
    subquery: a long IN list of bound ids makes PostgreSQL plan, and JIT-compile, a costly query)."""
    out: dict[int, str] = {}
    for tid, result in conn.execute(
            sa.select(FollowupContact.treatment_id, FollowupContact.vector_test)
            .where(FollowupContact.treatment_id.in_(treatments),
                   FollowupContact.vector_test.in_(("detected", "not_detected")))
            .order_by(FollowupContact.treatment_id, FollowupContact.contact_date, FollowupContact.id)):
        out[tid] = result
    return out


@dataclass
class Series:
    rows: pd.DataFrame
    has_series: bool  # False: this kind of alert has no cases behind it


@contextmanager
def _no_cycle_collection():
    """Building the rows allocates tens of thousands of small containers and no reference cycles; the
    cyclic collector would scan the whole heap several times meanwhile (0.4 s of 0.6 s measured on
    PostgreSQL for 5,000 cases). Reference counting still frees everything."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def case_series(session: Session, alert: Alert) -> Series:
    """Every case behind the alert, one row each, newest first receipt first."""
    with _no_cycle_collection():
        return _case_series(session, alert)


def _case_series(session: Session, alert: Alert) -> Series:
    conditions = series_conditions(session, alert)
    if conditions is None:
        return Series(pd.DataFrame(columns=COLUMNS), False)
    conn = session.connection()
    cases = _frame(conn, sa.select(
        Case.id, Case.sender_case_id, Case.latest_version, Case.latest_version_id, Case.first_received,
        CaseVersion.report_type, CaseVersion.reporter_country, CaseVersion.patient_age, CaseVersion.patient_age_unit,
        sa.func.coalesce(CaseVersion.patient_sex, Patient.sex), Patient.birth_year, CaseVersion.serious,
        CaseVersion.transgene_in_tumour, CaseVersion.narrative,
    ).join(CaseVersion, CaseVersion.id == Case.latest_version_id).outerjoin(Patient, Patient.id == Case.patient_id)
        .where(*conditions), ["case_id", "sender_case_id", "version", "version_id", "first_received", "report_type",
                              "country", "age", "age_unit", "sex", "birth_year", "serious", "transgene_in_tumour",
                              "narrative"])
    if cases.empty:
        return Series(pd.DataFrame(columns=COLUMNS), True)
    versions = sa.select(Case.latest_version_id).where(*conditions).scalar_subquery()
    product_id = alert_product_id(session, alert)
    drug_filter = [CaseDrug.case_version_id.in_(versions), CaseDrug.role.in_(SUSPECT_ROLES)]
    if product_id is not None:
        drug_filter.append(CaseDrug.product_id == product_id)
    drugs: dict[int, tuple] = {}  # version -> (product, lot, infusion date, treatment id): the first suspect row
    for vid, code, lot, batch, infusion, treatment in conn.execute(
            sa.select(CaseDrug.case_version_id, Product.code, CaseDrug.batch_lot, Treatment.batch_number,
                      Treatment.infusion_date, Treatment.id)
            .outerjoin(Product, Product.id == CaseDrug.product_id)
            .outerjoin(Treatment, Treatment.id == CaseDrug.treatment_id).where(*drug_filter)
            .order_by(CaseDrug.case_version_id, CaseDrug.id)):
        drugs.setdefault(vid, (code, batch or lot, infusion, treatment))
    match = [CaseReaction.case_version_id.in_(versions)]
    if alert.type == "signal":
        match.append(reaction_match(alert.detail))
    reactions = conn.execute(sa.select(CaseReaction.id, CaseReaction.case_version_id, CaseReaction.pt_name,
                                       CaseReaction.onset_date, CaseReaction.outcome,
                                       *(getattr(CaseReaction, c) for c in SERIOUSNESS))
                             .where(*match).order_by(CaseReaction.case_version_id, CaseReaction.id)).all()
    expected = _expectedness(conn, [int(r[0]) for r in reactions])
    vector = _vector_tests(conn, sa.select(CaseDrug.treatment_id).where(*drug_filter,
                                                                         CaseDrug.treatment_id.is_not(None)))
    per_version: dict[int, dict] = {}
    for rid, vid, name, onset, outcome, *flags in reactions:
        r = per_version.setdefault(vid, {"reactions": [], "outcome": {}, "onset_date": None, "criteria": set(),
                                         "expectedness": {}})
        r["reactions"].append(name)
        r["outcome"][outcome] = None
        if onset is not None and (r["onset_date"] is None or onset < r["onset_date"]):
            r["onset_date"] = onset
        r["criteria"].update(c for c, flag in zip(SERIOUSNESS, flags) if flag)
        r["expectedness"][expected.get(int(rid), NOT_ASSESSED)] = None
    out = []
    for rec in cases.itertuples(index=False):
        product, lot, infusion, treatment = drugs.get(rec.version_id, (None, None, None, None))
        r = per_version.get(rec.version_id)
        onset = r["onset_date"] if r else None
        narrative = rec.narrative or ""
        out.append({
            "case_id": int(rec.case_id), "sender_case_id": rec.sender_case_id, "version": int(rec.version),
            "report_type": rec.report_type, "first_received": rec.first_received, "country": rec.country,
            "age_years": _age_years(rec.age, rec.age_unit, rec.birth_year, rec.first_received),
            "sex": rec.sex or None, "product": product, "lot": lot, "infusion_date": infusion, "onset_date": onset,
            "days_to_onset": (onset - infusion).days if onset is not None and infusion is not None else None,
            "serious": bool(rec.serious),
            "seriousness": ", ".join(c for c in SERIOUSNESS if c in r["criteria"]) if r else "",
            "reactions": "; ".join(r["reactions"]) if r else "", "outcome": "; ".join(r["outcome"]) if r else "",
            "expectedness": "; ".join(r["expectedness"]) if r else NOT_ASSESSED,
            "transgene_in_tumour": rec.transgene_in_tumour, "vector_test": vector.get(treatment),
            "narrative_excerpt": (narrative[:NARRATIVE_EXCERPT] + "…") if len(narrative) > NARRATIVE_EXCERPT else narrative,
        })
    frame = pd.DataFrame(out, columns=COLUMNS)
    frame["days_to_onset"] = frame["days_to_onset"].astype("Int64")
    frame["age_years"] = frame["age_years"].astype("Float64")
    return Series(frame.sort_values(["first_received", "case_id"], ascending=False, ignore_index=True), True)
