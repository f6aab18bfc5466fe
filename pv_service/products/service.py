"""Product registry: products, approvals, confirmatory obligations."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlmodel import Session, select

from pv_service.audit import chain as audit
from pv_service.auth.models import Organization
from pv_service.common.errors import Conflict, InvalidInput
from pv_service.common.lookup import get_or_404
from pv_service.common.vocab import OrgKind
from pv_service.products.models import (
    ConfirmatoryObligation,
    ObligationMilestone,
    Product,
    ProductApproval,
)
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


def get_product(session: Session, product_id: int) -> Product:
    return get_or_404(session, Product, product_id, "no such product")


def product_by_code(session: Session, code: str) -> Product | None:
    return session.exec(select(Product).where(Product.code == code)).first()


def describe(session: Session, products: list[Product]) -> list[ProductPublic]:
    """Products with their approvals, obligations and milestones, in three queries."""
    ids = [p.id for p in products]
    if not ids:
        return []
    approvals = defaultdict(list)
    for a in session.exec(select(ProductApproval).where(ProductApproval.product_id.in_(ids)).order_by(ProductApproval.id)):
        approvals[a.product_id].append(ApprovalPublic.model_validate(a))
    obligations = list(
        session.exec(
            select(ConfirmatoryObligation).where(ConfirmatoryObligation.product_id.in_(ids)).order_by(ConfirmatoryObligation.id)
        )
    )
    milestones = defaultdict(list)
    if obligations:
        for m in session.exec(
            select(ObligationMilestone)
            .where(ObligationMilestone.obligation_id.in_([o.id for o in obligations]))
            .order_by(ObligationMilestone.id)
        ):
            milestones[m.obligation_id].append(MilestonePublic.model_validate(m))
    by_product = defaultdict(list)
    for o in obligations:
        by_product[o.product_id].append(
            ObligationPublic(
                id=o.id, product_id=o.product_id, jurisdiction=o.jurisdiction, description=o.description,
                due_date=o.due_date, milestones=milestones[o.id],
            )
        )
    out = []
    for p in products:
        public = ProductPublic.model_validate(p)
        public.approvals = approvals[p.id]
        public.obligations = by_product[p.id]
        out.append(public)
    return out


def _check_plan(data: ProductCreate | ProductUpdate, followup_rules) -> None:
    """A product's plan must be one of the loaded rules' plans (None: its modality's default)."""
    if "followup_plan" in data.model_fields_set:
        problem = followup_rules.check_plan_name(data.followup_plan)
        if problem:
            raise InvalidInput.one(("body", "followup_plan"), problem)


def create_product(session: Session, data: ProductCreate, now: dt.datetime, followup_rules) -> Product:
    _check_plan(data, followup_rules)
    if product_by_code(session, data.code):
        raise Conflict(f"product code {data.code!r} exists")
    mah = session.get(Organization, data.mah_organization_id)
    if mah is None or mah.kind != OrgKind.mah:
        raise InvalidInput.one(("body", "mah_organization_id"), "must be an organization of kind mah")
    product = Product(**data.model_dump(exclude={"approvals"}), created_at=now)
    product.modality = data.modality.value
    session.add(product)
    session.flush()
    for approval in data.approvals:
        add_approval(session, product, approval)
    return product


def update_product(session: Session, product: Product, data: ProductUpdate, followup_rules) -> Product:
    _check_plan(data, followup_rules)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(product, key, value)
    session.add(product)
    return product


def add_approval(session: Session, product: Product, data: ApprovalIn) -> ProductApproval:
    row = ProductApproval(product_id=product.id, **data.model_dump())
    row.approval_type = data.approval_type.value
    session.add(row)
    session.flush()
    return row


def update_approval(session: Session, product: Product, approval_id: int, data: ApprovalUpdate) -> ProductApproval:
    row = get_or_404(session, ProductApproval, approval_id, "no such approval for this product",
                     lambda a: a.product_id == product.id)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(row, key, value.value if hasattr(value, "value") else value)
    session.add(row)
    return row


def add_obligation(session: Session, product: Product, data: ObligationIn, now: dt.datetime) -> ConfirmatoryObligation:
    row = ConfirmatoryObligation(product_id=product.id, created_at=now, **data.model_dump())
    session.add(row)
    session.flush()
    return row


def set_milestone(session: Session, product: Product, obligation_id: int, kind: str, data: MilestoneIn,
                  now: dt.datetime, kinds: tuple[str, ...], principal) -> ObligationMilestone:
    obligation = get_or_404(session, ConfirmatoryObligation, obligation_id, "no such obligation for this product",
                            lambda o: o.product_id == product.id)
    if kind not in kinds:
        raise InvalidInput.one(("path", "kind"), f"unknown milestone kind; one of {list(kinds)}")
    if data.achieved_date is not None and data.achieved_date > now.date():
        raise InvalidInput.one(("body", "achieved_date"), "is in the future")
    # Locked (PostgreSQL) so concurrent updates of one milestone each see the one before as `before`;
    # concurrent first writes meet the unique (obligation, kind): one wins, the others get 409.
    row = session.exec(select(ObligationMilestone).where(
        ObligationMilestone.obligation_id == obligation.id, ObligationMilestone.kind == kind).with_for_update()).first()
    before = None if row is None else {"planned_date": row.planned_date, "achieved_date": row.achieved_date}
    if row is None:
        row = ObligationMilestone(obligation_id=obligation.id, kind=kind, updated_at=now)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(row, key, value)
    row.updated_at = now
    session.add(row)
    session.flush()
    audit.record(session, actor_id=principal.user_id, actor=principal.username, entity_type="milestone",
                 entity_id=row.id, action="updated", before=before,
                 after={"obligation_id": obligation.id, "kind": kind, "planned_date": row.planned_date,
                        "achieved_date": row.achieved_date}, now=now)
    return row
