"""Current follow-up compliance per patient and per product (computed on read: the engine is vectorised)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import pandas as pd
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from pv_service.auth.principal import DataReader, Principal, SessionDep, require
from pv_service.cases.clocks import clock_status
from pv_service.common.lookup import get_or_404
from pv_service.common.pagination import Page, decode_offset, encode_offset
from pv_service.common.types import ApiDate, DbId
from pv_service.common.vocab import Role
from pv_service.core.deps import Now
from pv_service.followup.cohort import load_contacts, load_treatments, product_plans
from pv_service.followup.compliance import (
    PATIENT_STATUSES,
    TIMEPOINT_STATUSES,
    evaluate_compliance,
)
from pv_service.jobs.definitions import current_rules
from pv_service.products.models import Product

router = APIRouter(prefix="/v1/compliance", tags=["compliance"])
ProductReader = Annotated[Principal, Depends(require(Role.safety_officer, Role.mah))]


class PatientCompliance(BaseModel):
    patient_id: DbId
    clinic_id: DbId
    status: str
    products: list[str]
    last_visit_date: dt.date | None
    next_timepoint: str | None
    next_due_date: dt.date | None
    timepoints: dict[str, int]


class TimepointCompleteness(BaseModel):
    label: str
    counts: dict[str, int]


class ProductCompliance(BaseModel):
    product_id: DbId
    code: str
    as_of: dt.date
    followup_plan: str | None  # the plan in force (explicit or the modality's default); None: no usable plan
    plan_problem: str | None  # why there is no usable plan (its patients then have no timepoints)
    patients: dict[str, int]
    timepoints: dict[str, int]
    by_timepoint: list[TimepointCompleteness]
    reporting_clocks: dict[str, int]


def _date(v) -> dt.date | None:
    return None if v is None or pd.isna(v) else pd.Timestamp(v).date()


def _visible_treatments(session, principal: Principal, product_ids=None) -> tuple[pd.DataFrame, pd.Series]:
    """(every treatment of the visible patients, as the engine needs them; the ids the caller may see).

    An MAH's patients keep their other MAHs' treatments for the engine (a death recorded
    there ends the follow-up here), but the MAH is shown only its own products' treatments.
    """
    treatments = load_treatments(session, current_rules(), product_ids)
    if principal.role == Role.clinic:
        treatments = treatments[treatments["clinic_id"] == principal.organization_id]
    elif principal.role == Role.mah:
        own = {pid for (pid,) in session.execute(
            sa.select(Product.id).where(Product.mah_organization_id == principal.organization_id))}
        patients = treatments.loc[treatments["product_id"].isin(own), "patient_id"]
        treatments = treatments[treatments["patient_id"].isin(patients)]
        return treatments, treatments.loc[treatments["product_id"].isin(own), "treatment_id"]
    return treatments, treatments["treatment_id"]


@router.get("/patients", response_model=Page[PatientCompliance])
def patients(session: SessionDep, principal: DataReader, now: Now,
             product: Annotated[str | None, Query(description="Product code")] = None,
             status: Annotated[Literal[PATIENT_STATUSES] | None, Query(description="; ".join(PATIENT_STATUSES))] = None,
             clinic_id: DbId | None = None,
             limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: str | None = None):
    """Each visible patient's follow-up status as of today, ordered by patient id."""
    offset = decode_offset(cursor)  # a bad cursor is a 422 whatever the data
    treatments, shown = _visible_treatments(session, principal)
    if product is not None:
        matching = treatments["treatment_id"].isin(shown) & (treatments["product_code"] == product)
        treatments = treatments[treatments["patient_id"].isin(treatments.loc[matching, "patient_id"])]
    if clinic_id is not None:
        treatments = treatments[treatments["clinic_id"] == clinic_id]
    if treatments.empty:
        return Page(items=[], next_cursor=None)
    # Contacts of treatments not in `treatments` are ignored by the engine.
    result = evaluate_compliance(treatments, load_contacts(session), current_rules(), now.date(), shown=shown)
    treatments = treatments[treatments["treatment_id"].isin(shown)]
    pats = result.patients.sort_values("patient_id")
    if status is not None:
        pats = pats[pats["status"] == status]
    page = pats.iloc[offset: offset + limit]
    tps = result.timepoints[result.timepoints["patient_id"].isin(page["patient_id"])]
    tp_counts = tps.groupby(["patient_id", "status"], observed=True).size()
    per_t = result.treatments.sort_values("next_due_date")
    items = []
    for rec in page.itertuples(index=False):
        mine = treatments[treatments["patient_id"] == rec.patient_id]
        nxt = per_t[(per_t["patient_id"] == rec.patient_id) & per_t["next_due_date"].notna()].head(1)
        items.append(PatientCompliance(
            patient_id=int(rec.patient_id), clinic_id=int(mine["clinic_id"].iloc[0]), status=rec.status,
            products=sorted(mine["product_code"].unique()),
            last_visit_date=_date(result.treatments.loc[result.treatments["patient_id"] == rec.patient_id, "last_visit_date"].max()),
            next_timepoint=nxt["next_label"].iloc[0] if len(nxt) else None,
            next_due_date=_date(nxt["next_due_date"].iloc[0]) if len(nxt) else None,
            timepoints={s: int(c) for s, c in tp_counts.get(rec.patient_id, pd.Series(dtype=int)).items()},
        ))
    more = offset + limit < len(pats)
    return Page(items=items, next_cursor=encode_offset(offset + limit) if more else None)


def product_compliance(session, product: Product, as_of: dt.date, principal: Principal | None = None) -> ProductCompliance:
    treatments = load_treatments(session, current_rules(), [product.id])
    statuses: dict[str, int] = {s: 0 for s in PATIENT_STATUSES}
    tp_status: dict[str, int] = {s: 0 for s in TIMEPOINT_STATUSES}
    by_tp: list[TimepointCompleteness] = []
    if not treatments.empty:
        result = evaluate_compliance(treatments, load_contacts(session, [product.id]), current_rules(), as_of,
                                     shown=treatments.loc[treatments["product_id"] == product.id, "treatment_id"])
        own_patients = treatments.loc[treatments["product_id"] == product.id, "patient_id"].unique()
        statuses |= result.patients[result.patients["patient_id"].isin(own_patients)]["status"].value_counts().to_dict()
        own_tps = result.timepoints[result.timepoints["treatment_id"].isin(
            treatments.loc[treatments["product_id"] == product.id, "treatment_id"])]
        tp_status |= own_tps["status"].value_counts().to_dict()
        order = own_tps.groupby("label", observed=True)["ordinal"].min().sort_values().index
        counts = own_tps.groupby(["label", "status"], observed=True).size()
        by_tp = [TimepointCompleteness(label=l, counts={s: int(c) for s, c in counts[l].items()}) for l in order]
    plan = product_plans(session, current_rules(), [product.id])[product.id]
    clocks = clock_status(session, current_rules(), as_of, [product.id])
    clock_counts = clocks["status"].value_counts().to_dict() if not clocks.empty else {}
    return ProductCompliance(
        product_id=product.id, code=product.code, as_of=as_of, followup_plan=plan.name, plan_problem=plan.problem,
        patients={k: int(v) for k, v in statuses.items()},
        timepoints={k: int(v) for k, v in tp_status.items()}, by_timepoint=by_tp,
        reporting_clocks={k: int(v) for k, v in clock_counts.items()},
    )


@router.get("/products/{product_id}", response_model=ProductCompliance)
def product_summary(session: SessionDep, principal: ProductReader, product_id: DbId, now: Now,
                    as_of: ApiDate | None = None):
    product = get_or_404(session, Product, product_id, "no such product",
                         lambda p: principal.role != Role.mah or p.mah_organization_id == principal.organization_id)
    return product_compliance(session, product, as_of or now.date())
