"""GET /v1/analytics/products/{product_id}/...: cohort analytics of one product.

Safety officers see every product; an MAH only its own (another holder's product answers 404,
as an unknown one does); clinics and admins none (403), as for the compliance export.
"""
from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from pv_service.analytics import service
from pv_service.analytics.groups import event_groups
from pv_service.analytics.queries import load_cohort
from pv_service.auth.principal import Principal, SessionDep, require
from pv_service.common.errors import InvalidInput, NotFound, check_range
from pv_service.common.types import ApiDate, DbId
from pv_service.common.vocab import Role
from pv_service.core.deps import Now
from pv_service.jobs.definitions import current_rules
from pv_service.patients.models import Treatment
from pv_service.products.models import Product

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
Analyst = Annotated[Principal, Depends(require(Role.safety_officer, Role.mah))]


class Stratum(StrEnum):
    indication = "indication"
    infusion_year = "infusion_year"
    clinic = "clinic"
    sex = "sex"
    age_band = "age_band"


ProductId = Annotated[DbId, Path(description="Product id")]
AsOf = Annotated[ApiDate | None, Query(description="Evaluate as of this day (default today)")]
InfusionFrom = Annotated[ApiDate | None, Query(description="Only patients first infused with the product on or after")]
InfusionTo = Annotated[ApiDate | None, Query(description="Only patients first infused with the product on or before")]
Groups = Annotated[list[str] | None, Query(max_length=50, description=(
    "Event group by name (designated medical events of signal_rules.yaml, adverse events of special "
    "interest of analytics.yaml); repeatable. Default: every group for the product's modality"))]
Terms = Annotated[list[str] | None, Query(max_length=200, description=(
    "MedDRA PT codes (8 digits) analysed together as one group; repeatable"))]
PT_CODE = re.compile(r"[0-9]{8}")


def visible_product(session, principal: Principal, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None or (principal.role == Role.mah and product.mah_organization_id != principal.organization_id):
        raise NotFound(f"no product {product_id}")
    return product


def _selection(conn, rules, product: Product, today: dt.date, as_of, infusion_from, infusion_to, groups, pts):
    as_of = as_of or today
    if as_of > today:
        raise InvalidInput.one(("query", "as_of"), f"is in the future (today is {today})")
    check_range(infusion_from, infusion_to, "infusion_from", "infusion_to")
    for code in pts or []:
        if not PT_CODE.fullmatch(code.strip()):
            raise InvalidInput.one(("query", "pt"), f"{code[:20]!r} is not a MedDRA PT code (8 digits)")
    try:
        chosen = service.resolve_groups(conn, rules, product.modality, groups, pts)
    except service.AnalyticsInputError as exc:
        raise InvalidInput.one(("query", exc.field), str(exc)) from None
    return as_of, service.Selection(groups=chosen, infusion_from=infusion_from, infusion_to=infusion_to)


@router.get("/products/{product_id}/incidence")
def product_incidence(
    session: SessionDep, principal: Analyst, now: Now, product_id: ProductId, as_of: AsOf = None,
    infusion_from: InfusionFrom = None, infusion_to: InfusionTo = None, event_group: Groups = None,
    pt: Terms = None,
    by: Annotated[list[Stratum] | None, Query(max_length=5, description="Strata; repeatable")] = None,
) -> dict:
    """Events, person-years and rate per 100 patient-years with exact Poisson (Garwood) limits per
    event group, optionally by strata; the standardised incidence ratio where a background rate exists."""
    cohort, rules, sel = _cohort_and_selection(session, principal, now, product_id, as_of, infusion_from,
                                               infusion_to, event_group, pt)
    strata = tuple(dict.fromkeys(b.value for b in by or ()))
    return service.incidence(cohort, rules, sel, strata)


def _cohort_and_selection(session, principal, now, product_id, as_of, infusion_from, infusion_to, event_group, pt):
    product = visible_product(session, principal, product_id)
    rules = current_rules()
    as_of, sel = _selection(session.connection(), rules, product, now.date(), as_of, infusion_from, infusion_to, event_group, pt)
    return load_cohort(session, product, rules, as_of), rules, sel


@router.get("/products/{product_id}/cumulative-incidence")
def product_cumulative_incidence(
    session: SessionDep, principal: Analyst, now: Now, product_id: ProductId, as_of: AsOf = None,
    infusion_from: InfusionFrom = None, infusion_to: InfusionTo = None, event_group: Groups = None,
    pt: Terms = None,
) -> dict:
    """Cumulative incidence per event group since first infusion: Aalen-Johansen with death as a competing
    risk (1 - Kaplan-Meier where no patient died without the event), pointwise limits, values at the
    years of the rules (default 1, 2, 5, 10)."""
    cohort, rules, sel = _cohort_and_selection(session, principal, now, product_id, as_of, infusion_from,
                                               infusion_to, event_group, pt)
    return service.cumulative(cohort, rules, sel)


@router.get("/products/{product_id}/time-to-onset")
def product_time_to_onset(
    session: SessionDep, principal: Analyst, now: Now, product_id: ProductId, as_of: AsOf = None,
    infusion_from: InfusionFrom = None, infusion_to: InfusionTo = None, event_group: Groups = None,
    pt: Terms = None,
) -> dict:
    """Days from infusion to onset per event group: median and IQR, counts by period, and the Weibull
    shape with its interval (falling, constant or rising hazard); for the cohort (first event, the
    others censored) and for every reported case with both dates."""
    cohort, rules, sel = _cohort_and_selection(session, principal, now, product_id, as_of, infusion_from,
                                               infusion_to, event_group, pt)
    return service.time_to_onset(cohort, rules, sel)


class LotLevel(StrEnum):
    lot = "lot"
    vector_lot = "vector_lot"
    manufacturing_site = "manufacturing_site"


@router.get("/products/{product_id}/sequential")
def product_sequential(
    session: SessionDep, principal: Analyst, now: Now, product_id: ProductId, as_of: AsOf = None,
    event_group: Groups = None,
    looks_from: Annotated[ApiDate | None, Query(description="Stored looks from this day (default: all)")] = None,
) -> dict:
    """Poisson MaxSPRT per monitored event group (those with a background rate): the test as it stands
    on the as-of date (computed now) and every look the sequential-monitoring job recorded."""
    from sqlmodel import select

    from pv_service.analytics.models import SequentialLook

    product = visible_product(session, principal, product_id)
    rules = current_rules()
    as_of, _ = _selection(session.connection(), rules, product, now.date(), as_of, None, None, event_group, None)
    groups = event_groups(session.connection(), rules, product.modality)
    monitored = {g.name for g, _ in service.monitored_groups(groups, rules)}
    for name in event_group or []:
        if name not in monitored:
            raise InvalidInput.one(("query", "event_group"), f"{name!r} has no background rate for this product's "
                                   f"modality ({rules.background_rates.why_none(name)}; monitored: {sorted(monitored)})")
    stmt = select(SequentialLook).where(SequentialLook.product_id == product.id, SequentialLook.look_date <= as_of)
    if looks_from is not None:
        stmt = stmt.where(SequentialLook.look_date >= looks_from)
    if event_group:
        stmt = stmt.where(SequentialLook.event_group.in_(event_group))
    looks = [r.model_dump(exclude={"id", "product_id", "created_at"}, mode="json")
             for r in session.exec(stmt.order_by(SequentialLook.event_group, SequentialLook.look_date))]
    try:
        return service.sequential(load_cohort(session, product, rules, as_of), rules, groups, looks, event_group)
    except ValueError as exc:  # rules whose alpha, T and M admit no critical value
        raise InvalidInput.one(("query", "event_group"), str(exc)) from None


@router.get("/products/{product_id}/lots")
def product_lots(
    session: SessionDep, principal: Analyst, now: Now, product_id: ProductId, as_of: AsOf = None,
    infusion_from: InfusionFrom = None, infusion_to: InfusionTo = None, event_group: Groups = None,
    pt: Terms = None,
    by: Annotated[LotLevel, Query(description="Manufacturing lot (batch number), vector lot or site")] = LotLevel.lot,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Lots listed per group, most significant first")] = 50,
) -> dict:
    """Observed vs expected events per lot (expected from the lot's share of person-time), one-sided exact
    binomial test, p-values adjusted across the product's lots (rules: Holm or Benjamini-Hochberg)."""
    cohort, rules, sel = _cohort_and_selection(session, principal, now, product_id, as_of, infusion_from,
                                               infusion_to, event_group, pt)
    return service.lots(cohort, rules, sel, by.value, limit)


class Across(StrEnum):
    product = "product"
    product_class = "product_class"


@router.get("/incidence")
def incidence_across_products(
    session: SessionDep, principal: Analyst, now: Now,
    event_group: Annotated[list[str], Query(min_length=1, max_length=20, description=(
        "Event group by name (repeatable; required): the same groups are compared across products"))],
    product: Annotated[list[str] | None, Query(max_length=100, description="Product codes (default: every "
                                                                            "product you may see)")] = None,
    by: Annotated[Across, Query(description="One row per product, or pooled per product class "
                                            "(modality and target)")] = Across.product,
    as_of: AsOf = None, infusion_from: InfusionFrom = None, infusion_to: InfusionTo = None,
) -> dict:
    """Incidence of the same event groups across products (an MAH: its own products only)."""
    from sqlmodel import select

    rules = current_rules()
    stmt = select(Product).where(Product.id.in_(select(Treatment.product_id))).order_by(Product.code)
    if principal.role == Role.mah:
        stmt = stmt.where(Product.mah_organization_id == principal.organization_id)
    if product:
        stmt = stmt.where(Product.code.in_(product))
    products = list(session.exec(stmt))
    if product and len(products) < len(set(product)):
        found = {p.code for p in products}
        raise NotFound(f"no treated product {sorted(set(product) - found)[0]!r}")
    as_of, sel = _selection(session.connection(), rules, products[0] if products else Product(modality=""), now.date(), as_of,
                            infusion_from, infusion_to, event_group, None)
    cohorts = [load_cohort(session, p, rules, as_of) for p in products]
    return service.incidence_across(cohorts, rules, sel, by.value)
