"""Read one product's follow-up cohort and its reactions out of the database (no statistics here)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pv_service.analytics.persontime import episodes
from pv_service.cases.access import not_nullified
from pv_service.cases.clocks import SUSPECT_ROLES
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.common.frames import read_frame
from pv_service.followup.cohort import load_contacts, load_treatments
from pv_service.followup.compliance import evaluate_compliance
from pv_service.patients.models import Patient, Treatment
from pv_service.products.models import Product

TREATMENT_DETAIL = ["treatment_id", "indication", "batch_number", "vector_lot", "manufacturing_site", "sex",
                    "birth_year"]
REACTION_COLUMNS = ["case_id", "patient_id", "pt_name", "pt_code", "onset_date", "first_received",
                    "suspect_infusion"]


@dataclass(frozen=True)
class ProductCohort:
    product: Product
    as_of: dt.date
    # One row per patient treated with the product (persontime.episodes) with strata columns:
    # patient_id, clinic_id, treatment_id, indication, batch_number, vector_lot, manufacturing_site,
    # sex, birth_year, infusion_year, start, exit, exit_reason.
    episodes: pd.DataFrame
    # Reactions in the latest version of every case about these patients, received by the as-of date:
    # case_id, patient_id, pt_name, pt_code, onset_date (datetime64, NaT if not given), first_received,
    # suspect_infusion (infusion date of the product's treatment the case names as suspect, else NaT).
    reactions: pd.DataFrame
    # time at risk per (group, selection), computed once per request (service.at_risk)
    cache: dict = field(default_factory=dict, compare=False, repr=False)


def load_cohort(session: Session, product: Product, rules, as_of: dt.date) -> ProductCohort:
    pt_rules = rules.analytics.person_time
    treatments = load_treatments(session, rules, [product.id])
    contacts = load_contacts(session, [product.id], as_of=as_of)
    if treatments.empty:
        followup = pd.DataFrame(columns=["treatment_id", "status", "stop_date", "last_visit_date"])
    else:
        followup = evaluate_compliance(treatments, contacts, rules, as_of).treatments
    detail = read_frame(session, sa.select(
        Treatment.id, Treatment.indication, Treatment.batch_number, Treatment.vector_lot,
        Treatment.manufacturing_site, Patient.sex, Patient.birth_year,
    ).join(Patient, Patient.id == Treatment.patient_id).where(
        Treatment.patient_id.in_(sa.select(Treatment.patient_id).where(Treatment.product_id == product.id))),
        TREATMENT_DETAIL)
    tr = treatments[["treatment_id", "patient_id", "product_id", "clinic_id", "infusion_date"]].merge(
        detail, on="treatment_id", how="left")
    ep = episodes(tr, followup, product.id, as_of, other_product_infusion=pt_rules.other_product_infusion,
                  active_until=pt_rules.active_until, last_info=last_case_info(session, product, as_of))
    if len(ep):
        ep["infusion_year"] = pd.to_datetime(ep["start"]).dt.year.astype(np.int64)
    else:
        ep["infusion_year"] = pd.Series(dtype=np.int64)
    return ProductCohort(product=product, as_of=as_of, episodes=ep, reactions=load_reactions(session, product, as_of))


def last_case_info(session: Session, product: Product, as_of: dt.date) -> pd.Series:
    """The latest information date of the cases about each of the product's patients (a contact)."""
    patients = sa.select(Treatment.patient_id).where(Treatment.product_id == product.id)
    frame = read_frame(session, sa.select(Case.patient_id, sa.func.max(CaseVersion.latest_info_date))
                       .join(CaseVersion, CaseVersion.id == Case.latest_version_id)
                       .where(Case.patient_id.in_(patients), CaseVersion.latest_info_date <= as_of, not_nullified())
                       .group_by(Case.patient_id), ["patient_id", "last_info"], dates=["last_info"])
    return pd.Series(frame["last_info"].to_numpy(), index=frame["patient_id"].to_numpy())


def load_reactions(session: Session, product: Product, as_of: dt.date) -> pd.DataFrame:
    """Registered patients only: the cohort statistics need their follow-up time, which a patient the report
    only describes (an imported or spontaneous case) does not have."""
    patients = sa.select(Treatment.patient_id).where(Treatment.product_id == product.id)
    suspect = (sa.select(CaseDrug.case_version_id, sa.func.min(Treatment.infusion_date).label("infusion"))
               .join(Treatment, Treatment.id == CaseDrug.treatment_id)
               .where(CaseDrug.product_id == product.id, CaseDrug.role.in_(SUSPECT_ROLES))
               .group_by(CaseDrug.case_version_id).subquery())
    stmt = (sa.select(Case.id, Case.patient_id, CaseReaction.pt_name, CaseReaction.pt_code, CaseReaction.onset_date,
                      Case.first_received, suspect.c.infusion)
            .join(CaseVersion, CaseVersion.id == Case.latest_version_id)
            .join(CaseReaction, CaseReaction.case_version_id == CaseVersion.id)
            .outerjoin(suspect, suspect.c.case_version_id == CaseVersion.id)
            .where(Case.patient_id.in_(patients), Case.first_received <= as_of, not_nullified())
            .order_by(Case.id, CaseReaction.id))
    frame = read_frame(session, stmt, REACTION_COLUMNS, dates=["first_received"])
    for c in ("onset_date", "suspect_infusion"):
        frame[c] = pd.to_datetime(frame[c].astype("string"), format="%Y-%m-%d").astype("datetime64[s]")
    # an onset after the as-of date is not known on the as-of date
    return frame[~(frame["onset_date"] > pd.Timestamp(as_of))].reset_index(drop=True)


def product_by_id(session: Session, product_id: int) -> Product | None:
    return session.get(Product, product_id)
