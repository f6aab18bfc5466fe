"""Reference safety information of each product, and the expectedness of each case's reactions."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlmodel import select

from pv_service.auth.principal import DataReader, Principal, SessionDep, require
from pv_service.cases.access import case_filter
from pv_service.cases.models import Case
from pv_service.common.errors import NotFound
from pv_service.common.types import DbId
from pv_service.common.vocab import Role
from pv_service.core.deps import Now
from pv_service.products.service import get_product
from pv_service.rsi import service
from pv_service.rsi.models import RsiVersion
from pv_service.rsi.schemas import ExpectednessPublic, RsiVersionIn, RsiVersionPublic

router = APIRouter(tags=["reference safety information"])
LabelReader = Annotated[Principal, Depends(require(Role.safety_officer, Role.mah))]
LabelEditor = Annotated[Principal, Depends(require(Role.safety_officer))]


def _readable_product(session, principal: Principal, product_id: int):
    product = get_product(session, product_id)
    if principal.role == Role.mah and product.mah_organization_id != principal.organization_id:
        raise NotFound("no such product")
    return product


@router.get("/v1/products/{product_id}/rsi", response_model=list[RsiVersionPublic])
def list_label_versions(session: SessionDep, principal: LabelReader, product_id: DbId):
    """Every label version of the product (US PI, China label, EU SmPC), by jurisdiction and effective date."""
    product = _readable_product(session, principal, product_id)
    return service.describe(session, service.product_versions(session, product.id))


@router.get("/v1/products/{product_id}/rsi/{version_id}", response_model=RsiVersionPublic)
def get_label_version(session: SessionDep, principal: LabelReader, product_id: DbId, version_id: DbId):
    product = _readable_product(session, principal, product_id)
    row = session.get(RsiVersion, version_id)
    if row is None or row.product_id != product.id:
        raise NotFound("no such label version")
    return service.describe(session, [row])[0]


@router.post("/v1/products/{product_id}/rsi", response_model=RsiVersionPublic, status_code=201)
def add_label_version(session: SessionDep, principal: LabelEditor, product_id: DbId, body: RsiVersionIn, now: Now):
    """A new label version: it applies to reactions received from its effective date on (earlier
    assessments stand: expectedness is judged at receipt)."""
    row = service.create_version(session, principal, get_product(session, product_id), body, now)
    session.commit()
    return service.describe(session, [row])[0]


@router.get("/v1/reports/{case_id}/expectedness", response_model=list[ExpectednessPublic])
def case_expectedness(session: SessionDep, principal: DataReader, case_id: DbId):
    """Listed or unlisted, per reaction of each version, per jurisdiction, against the label in force at receipt."""
    case = session.exec(select(Case).where(Case.id == case_id, case_filter(principal))).first()
    if case is None:
        raise NotFound("no such report")
    return service.case_expectedness(session, case)
