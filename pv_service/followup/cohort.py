"""Read the follow-up cohort out of the database as the frames the compliance engine takes."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pv_service.cases.access import not_nullified
from pv_service.cases.models import Case, CaseReaction, CaseVersion
from pv_service.common.frames import read_frame
from pv_service.followup.models import FollowupContact
from pv_service.patients.models import Patient, Treatment
from pv_service.products.models import Product
from pv_service.rules import Rules


def load_treatments(session: Session, rules: Rules, product_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """treatment_id, patient_id, product_id, product_code, clinic_id, plan, infusion_date.

    With `product_ids`, every treatment of the patients treated with those products is
    included, because a death recorded under one treatment stops the others too.
    `plan` is None for a product without a usable plan (see `product_plans`): such a
    treatment has no timepoints, and the other products are evaluated as usual.
    """
    stmt = sa.select(
        Treatment.id.label("treatment_id"), Treatment.patient_id, Treatment.product_id,
        Product.code.label("product_code"), Patient.clinic_id, Treatment.infusion_date,
    ).join(Product, Product.id == Treatment.product_id).join(Patient, Patient.id == Treatment.patient_id)
    if product_ids is not None:
        stmt = stmt.where(Treatment.patient_id.in_(_patients_of(product_ids)))
    frame = read_frame(session, stmt.order_by(Treatment.id), ["treatment_id", "patient_id", "product_id",
                                                              "product_code", "clinic_id", "infusion_date"])
    plans = {pid: plan.name for pid, plan in product_plans(session, rules, frame["product_id"].unique()).items()}
    frame["plan"] = pd.Series([plans.get(pid) for pid in frame["product_id"]], index=frame.index, dtype=object)
    return frame


@dataclass(frozen=True)
class ProductPlan:
    name: str | None  # the plan in the rules; None when the product has no usable plan
    problem: str | None  # why not, in words, when name is None


def product_plans(session: Session, rules: Rules, product_ids=None) -> dict[int, ProductPlan]:
    """Each product's follow-up plan, resolved against the loaded rules in Python (a product's
    unset plan is None here, never a frame's NaN, which would count as a plan name)."""
    stmt = sa.select(Product.id, Product.modality, Product.followup_plan)
    if product_ids is not None:
        stmt = stmt.where(Product.id.in_([int(p) for p in product_ids]))
    out = {}
    for pid, modality, explicit in session.execute(stmt):
        name, problem = rules.followup.resolve_plan(modality, explicit)
        out[pid] = ProductPlan(name, problem)
    return out


def _patients_of(product_ids: Sequence[int]):
    return sa.select(Treatment.patient_id).where(Treatment.product_id.in_(list(product_ids)))


CONTACT_COLUMNS = ["contact_id", "treatment_id", "kind", "contact_date", "timepoint", "malignancy_screening"]


def load_contacts(session: Session, product_ids: Sequence[int] | None = None,
                  as_of: dt.date | None = None) -> pd.DataFrame:
    """contact_id, treatment_id, kind, contact_date (datetime64), timepoint, malignancy_screening.

    A fatal outcome in the latest version of a case is a death too, even when the clinic
    has not (yet) recorded a death contact: it is added as a death on the patient's
    treatments, dated at the latest information date of that case (contact_id negative).
    With `product_ids`: the contacts of every treatment of the patients treated with those
    products (a subquery, so any cohort size fits in one statement). With `as_of`: nothing
    dated later. Rows are read as plain tuples: at 10^6 contacts this is the largest read.
    """
    stmt = sa.select(FollowupContact.id, FollowupContact.treatment_id, FollowupContact.kind,
                     FollowupContact.contact_date, FollowupContact.timepoint, FollowupContact.malignancy_screening)
    deaths = (
        sa.select(Treatment.id, sa.func.min(CaseVersion.latest_info_date))
        .select_from(Case)
        .join(CaseVersion, CaseVersion.id == Case.latest_version_id)
        .join(CaseReaction, CaseReaction.case_version_id == CaseVersion.id)
        .join(Treatment, Treatment.patient_id == Case.patient_id)
        .where(sa.or_(CaseReaction.outcome == "fatal", CaseReaction.death.is_(True)), not_nullified())
        .group_by(Treatment.id).order_by(Treatment.id)
    )
    if product_ids is not None:
        scope = sa.select(Treatment.id).where(Treatment.patient_id.in_(_patients_of(product_ids)))
        stmt = stmt.where(FollowupContact.treatment_id.in_(scope))
        deaths = deaths.where(Treatment.id.in_(scope))
    if as_of is not None:
        stmt = stmt.where(FollowupContact.contact_date <= as_of)
    contacts = read_frame(session, stmt.order_by(FollowupContact.id), CONTACT_COLUMNS, dates=["contact_date"])
    fatal = read_frame(session, deaths, ["treatment_id", "contact_date"], dates=["contact_date"])
    if as_of is not None:
        fatal = fatal[fatal["contact_date"] <= pd.Timestamp(as_of)].reset_index(drop=True)
    if not fatal.empty:
        fatal = fatal.assign(contact_id=-(np.arange(len(fatal)) + 1), kind="death", timepoint=None,
                             malignancy_screening=None)
        contacts = pd.concat([contacts, fatal[CONTACT_COLUMNS]], ignore_index=True)
    return contacts
