"""Seed the approved products from ``products/data/products.csv``.

The products are real; rows are kept faithful to the csv: modality, target,
approval type (including "unverified", which an admin later confirms or corrects),
indication and source are copied as they are. No confirmatory obligations are
invented here (the demo loader adds clearly labelled demo assumptions separately).

The function flushes but never commits: the caller owns the transaction.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from importlib import resources

from pydantic import ValidationError
from sqlmodel import Session, select

from pv_service.auth.models import Organization
from pv_service.common.vocab import OrgKind
from pv_service.products.models import Product, ProductApproval
from pv_service.products.schemas import ApprovalIn, ProductFields

REGISTRY_FILE = "data/products.csv"

# Country of the marketing authorisation holder's licence, by regulator.
JURISDICTION_COUNTRY = {"NMPA": "CN", "FDA": "US"}


@dataclass(frozen=True)
class ProductRow:
    """One row of products.csv."""
    code: str
    inn: str
    trade_name: str
    modality: str
    target: str | None
    mah: str
    jurisdiction: str
    approval_date: dt.date
    approval_type: str
    indication: str
    source: str | None


class RegistryError(ValueError):
    """products.csv holds a value the API could not serve; names the row and the column."""


def _registry_text() -> str:
    return resources.files("pv_service.products").joinpath(REGISTRY_FILE).read_text(encoding="utf-8")


def _check(row: ProductRow, line: int) -> None:
    """Each value must fit the API's schemas, or every read of the registry would fail later."""
    try:
        ProductFields(code=row.code, inn=row.inn, trade_name=row.trade_name, modality=row.modality, target=row.target)
        ApprovalIn(jurisdiction=row.jurisdiction, approval_date=row.approval_date, approval_type=row.approval_type,
                   indication=row.indication, source=row.source)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RegistryError(f"{REGISTRY_FILE} row {line}: {problems}") from None
    if not row.mah:
        raise RegistryError(f"{REGISTRY_FILE} row {line}: mah: must name the marketing authorisation holder")


def read_products_csv() -> list[ProductRow]:
    """The products shipped with the package, in file order, each checked against the API's schemas."""
    rows = []
    for line, raw in enumerate(csv.DictReader(io.StringIO(_registry_text())), start=2):
        try:
            approval_date = dt.date.fromisoformat(raw["approval_date"].strip())
        except ValueError:
            raise RegistryError(f"{REGISTRY_FILE} row {line}: approval_date: not a YYYY-MM-DD date") from None
        rows.append(
            ProductRow(
                code=raw["code"].strip(),
                inn=raw["inn"].strip(),
                trade_name=raw["trade_name"].strip(),
                modality=raw["modality"].strip(),
                target=raw["target"].strip() or None,
                mah=raw["mah"].strip(),
                jurisdiction=raw["jurisdiction"].strip(),
                approval_date=approval_date,
                approval_type=raw["approval_type"].strip(),
                indication=raw["indication"].strip(),
                source=raw["source"].strip() or None,
            )
        )
        _check(rows[-1], line)
    return rows


def _mah_country(rows: list[ProductRow], mah: str) -> str | None:
    countries = {JURISDICTION_COUNTRY.get(r.jurisdiction) for r in rows if r.mah == mah}
    return countries.pop() if len(countries) == 1 else None


def seed_products(session: Session, now: dt.datetime) -> list[Product]:
    """Create the MAH organisations, products and approvals from products.csv.

    Idempotent: a product whose code already exists is left untouched (an admin may
    have corrected its approval since), and an organisation whose name exists is
    reused. Returns the csv's products (existing or new) in file order.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    rows = read_products_csv()

    orgs = {o.name: o for o in session.exec(select(Organization)).all()}
    for mah in dict.fromkeys(r.mah for r in rows):
        if mah not in orgs:
            org = Organization(name=mah, kind=OrgKind.mah.value, country=_mah_country(rows, mah), created_at=now)
            session.add(org)
            orgs[mah] = org
    session.flush()

    existing = {p.code: p for p in session.exec(select(Product)).all()}
    result: list[Product] = []
    new_approvals: list[tuple[Product, ProductRow]] = []
    for r in rows:
        product = existing.get(r.code)
        if product is None:
            product = Product(
                code=r.code,
                inn=r.inn,
                trade_name=r.trade_name,
                modality=r.modality,
                target=r.target,
                mah_organization_id=orgs[r.mah].id,
                followup_plan=None,
                created_at=now,
            )
            session.add(product)
            existing[r.code] = product
            new_approvals.append((product, r))
        result.append(product)
    session.flush()

    for product, r in new_approvals:
        session.add(
            ProductApproval(
                product_id=product.id,
                jurisdiction=r.jurisdiction,
                approval_date=r.approval_date,
                approval_type=r.approval_type,
                indication=r.indication,
                source=r.source,
            )
        )
    session.flush()
    return result
