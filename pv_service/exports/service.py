"""Which products a caller may export, and the summary of them read from the database."""
from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pv_service.auth.models import Organization
from pv_service.common.errors import NotFound
from pv_service.common.vocab import Role
from pv_service.exports.queries import load_product_inputs, term_soc_map
from pv_service.exports.summary import ComplianceSummary, build_summary, resolve_period
from pv_service.products.models import Product
from pv_service.signals.hierarchy import analysis_version, designated_groups


def products_for(session: Session, role: Role | None, organization_id: int | None,
                 code: str | None) -> list[Product]:
    """The products to export: one by code, or all the caller may see (an MAH: its own; others: all).

    An MAH asking for another MAH's product gets the same answer as for an unknown code
    (NotFound), so product codes of other holders are not disclosed.
    """
    stmt = sa.select(Product).order_by(Product.code)
    if role == Role.mah:
        stmt = stmt.where(Product.mah_organization_id == organization_id)
    if code is not None:
        stmt = stmt.where(Product.code == code)
    products = list(session.execute(stmt).scalars())
    if not products:
        raise NotFound(f"no product {code!r}" if code is not None else "no products to export")
    return products


def compliance_summary(session: Session, products: list[Product], rules, as_of: dt.date,
                       start: dt.date | None = None, end: dt.date | None = None) -> ComplianceSummary:
    start, end = resolve_period(as_of, start, end)
    inputs = [load_product_inputs(session, p, rules, as_of, start) for p in products]
    conn = session.connection()
    dme_codes, _ = designated_groups(conn, rules.signals.designated_medical_events, analysis_version(conn, None))
    return build_summary(inputs, rules, as_of, start, end, term_soc_map(), dme_codes)


def export_filename(session: Session, products: list[Product], role: Role | None, organization_id: int | None,
                    as_of: dt.date, ext: str) -> str:
    if len(products) == 1:
        scope = products[0].code
    elif role == Role.mah:
        org = session.get(Organization, organization_id)
        scope = org.name if org else f"mah-{organization_id}"
    else:
        scope = "all-products"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", scope).strip("-") or "products"
    return f"compliance_{slug}_{as_of.isoformat()}.{ext}"
