from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlmodel import select

from pv_service.auth.principal import (
    AdminPrincipal,
    CurrentPrincipal,
    Principal,
    SessionDep,
    require,
)
from pv_service.common.errors import NotFound
from pv_service.common.pagination import Page, PageDep, paginate
from pv_service.common.types import DbId
from pv_service.common.vocab import Modality, Role
from pv_service.core.deps import Now
from pv_service.products import service
from pv_service.products.models import Product
from pv_service.products.schemas import (
    ApprovalIn,
    ApprovalPublic,
    ApprovalUpdate,
    MilestoneIn,
    MilestonePublic,
    ObligationIn,
    ObligationPublic,
    ProductCreate,
    ProductPublic,
    ProductUpdate,
)

router = APIRouter(prefix="/v1/products", tags=["products"])


def _followup_rules():
    from pv_service.jobs.definitions import current_rules  # imported late: jobs import the products package

    return current_rules().followup


@router.get("", response_model=Page[ProductPublic])
def list_products(
    session: SessionDep, _: CurrentPrincipal, page: PageDep,
    modality: Modality | None = None, mah_organization_id: DbId | None = None, code: str | None = None,
):
    stmt = select(Product)
    if modality is not None:
        stmt = stmt.where(Product.modality == modality.value)
    if mah_organization_id is not None:
        stmt = stmt.where(Product.mah_organization_id == mah_organization_id)
    if code is not None:
        stmt = stmt.where(Product.code == code)
    items, cursor = paginate(session, stmt, Product.id, page)
    return Page(items=service.describe(session, items), next_cursor=cursor)


@router.get("/{product_id}", response_model=ProductPublic)
def get_product(session: SessionDep, _: CurrentPrincipal, product_id: DbId):
    return service.describe(session, [service.get_product(session, product_id)])[0]


@router.post("", response_model=ProductPublic, status_code=201)
def create_product(session: SessionDep, _: AdminPrincipal, body: ProductCreate, now: Now):
    product = service.create_product(session, body, now, _followup_rules())
    session.commit()
    return service.describe(session, [product])[0]


@router.patch("/{product_id}", response_model=ProductPublic)
def update_product(session: SessionDep, _: AdminPrincipal, product_id: DbId, body: ProductUpdate):
    product = service.update_product(session, service.get_product(session, product_id), body, _followup_rules())
    session.commit()
    return service.describe(session, [product])[0]


@router.post("/{product_id}/approvals", response_model=ApprovalPublic, status_code=201)
def add_approval(session: SessionDep, _: AdminPrincipal, product_id: DbId, body: ApprovalIn):
    row = service.add_approval(session, service.get_product(session, product_id), body)
    session.commit()
    return row


@router.patch("/{product_id}/approvals/{approval_id}", response_model=ApprovalPublic)
def update_approval(session: SessionDep, _: AdminPrincipal, product_id: DbId, approval_id: DbId, body: ApprovalUpdate):
    row = service.update_approval(session, service.get_product(session, product_id), approval_id, body)
    session.commit()
    return row


@router.post("/{product_id}/obligations", response_model=ObligationPublic, status_code=201)
def add_obligation(session: SessionDep, _: AdminPrincipal, product_id: DbId, body: ObligationIn, now: Now):
    row = service.add_obligation(session, service.get_product(session, product_id), body, now)
    session.commit()
    return ObligationPublic(**ObligationIn.model_validate(row, from_attributes=True).model_dump(), id=row.id, product_id=row.product_id)


ObligationEditor = Annotated[Principal, Depends(require(Role.mah, Role.admin))]


@router.put("/{product_id}/obligations/{obligation_id}/milestones/{kind}", response_model=MilestonePublic)
def set_milestone(session: SessionDep, principal: ObligationEditor, product_id: DbId, obligation_id: DbId, kind: str,
                  body: MilestoneIn, now: Now):
    """The MAH records a confirmatory-trial milestone as planned or achieved (kinds: alerts/deadlines.yaml)."""
    from pv_service.jobs.definitions import current_rules

    product = service.get_product(session, product_id)
    if principal.role == Role.mah and product.mah_organization_id != principal.organization_id:
        raise NotFound("no such product")
    row = service.set_milestone(session, product, obligation_id, kind, body, now,
                                current_rules().deadlines.milestone_kinds, principal)
    session.commit()
    return row
