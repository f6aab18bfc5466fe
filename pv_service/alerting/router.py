from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from sqlmodel import select

from pv_service.alerting import queue as alert_queue
from pv_service.alerting import service
from pv_service.alerting.models import Alert
from pv_service.alerting.schemas import (
    AlertDetail,
    AlertPublic,
    AssignIn,
    StatusCount,
    TransitionIn,
)
from pv_service.alerting.workflow import OPERATIONAL_OPEN, OPERATIONAL_TRANSITIONS, SIGNAL_OPEN, SIGNAL_TRANSITIONS
from pv_service.auth.principal import Principal, SessionDep, require
from pv_service.common.pagination import Page, decode_offset, offset_page
from pv_service.common.types import DbId
from pv_service.common.vocab import Role
from pv_service.core.deps import Now
from pv_service.products.models import Product

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
AlertReader = Annotated[Principal, Depends(require(Role.safety_officer, Role.mah, Role.clinic, Role.admin))]
SafetyOfficer = Annotated[Principal, Depends(require(Role.safety_officer))]


class AlertType(StrEnum):
    followup = "followup"
    deadline = "deadline"
    reporting_clock = "reporting_clock"
    signal = "signal"
    job_failed = "job_failed"
    data_quality = "data_quality"


class AlertView(StrEnum):
    all = "all"
    signals = "signals"
    data_quality = "data_quality"
    reporting_clocks = "reporting_clocks"
    deadlines = "deadlines"
    followup = "followup"


class AlertSort(StrEnum):
    priority = "priority"  # triaged: unreviewed signals first, then priority
    newest = "newest"
    oldest = "oldest"


# An unknown status is a 422 naming the ones there are (it answered an empty list)
AlertStatusName = Literal[tuple(dict.fromkeys([*SIGNAL_TRANSITIONS, *OPERATIONAL_TRANSITIONS]))]

def _filtered(principal: Principal, type: AlertType | None, status: list[str] | None, product: str | None,
              subject_type: str | None, subject_id: DbId | None, assignee_id: DbId | None, open_only: bool):
    stmt = select(Alert).where(service.alert_filter(principal))
    if type is not None:
        stmt = stmt.where(Alert.type == type.value)
    if status:
        stmt = stmt.where(Alert.status.in_(status))
    if product is not None:
        stmt = stmt.where(Alert.product_id.in_(select(Product.id).where(Product.code == product)))
    if subject_type is not None:
        stmt = stmt.where(Alert.subject_type == subject_type)
    if subject_id is not None:
        stmt = stmt.where(Alert.subject_id == subject_id)
    if assignee_id is not None:
        stmt = stmt.where(Alert.assignee_id == assignee_id)
    if open_only:
        stmt = stmt.where(Alert.status.in_(SIGNAL_OPEN + OPERATIONAL_OPEN))
    return stmt


@router.get("", response_model=Page[AlertPublic])
def list_alerts(
    session: SessionDep, principal: AlertReader,
    type: AlertType | None = None,
    status: Annotated[list[AlertStatusName] | None, Query(description="One or more statuses")] = None,
    product: Annotated[str | None, Query(description="Product code")] = None,
    subject_type: str | None = None,
    subject_id: DbId | None = None,
    assignee_id: DbId | None = None,
    open_only: bool = False,
    view: Annotated[AlertView, Query(description="A queue view (alert_queue.VIEWS)")] = AlertView.all,
    sort: AlertSort = AlertSort.priority,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
):
    stmt = _filtered(principal, type, status, product, subject_type, subject_id, assignee_id, open_only)
    stmt = stmt.where(alert_queue.view_condition(view.value))
    order = {AlertSort.priority: alert_queue.triage_order(), AlertSort.newest: (Alert.id.desc(),),
             AlertSort.oldest: (Alert.id,)}[sort]
    items, next_cursor = offset_page(session, stmt.order_by(*order), decode_offset(cursor), limit)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/counts", response_model=list[StatusCount])
def count_alerts(session: SessionDep, principal: AlertReader, type: AlertType | None = None):
    stmt = select(Alert.type, Alert.status, sa.func.count()).where(service.alert_filter(principal))
    if type is not None:
        stmt = stmt.where(Alert.type == type.value)
    rows = session.exec(stmt.group_by(Alert.type, Alert.status).order_by(Alert.type, Alert.status)).all()
    return [StatusCount(type=t, status=s, count=c) for t, s, c in rows]


@router.get("/views", response_model=dict[str, int])
def count_views(session: SessionDep, principal: AlertReader, open_only: bool = True):
    """Alerts per queue view (signals, data quality, reporting clocks, deadlines, follow-up; `all` their sum)."""
    conditions = [service.alert_filter(principal)]
    if open_only:
        conditions.append(Alert.status.in_(SIGNAL_OPEN + OPERATIONAL_OPEN))
    return alert_queue.view_counts(session, conditions)


@router.get("/{alert_id}", response_model=AlertDetail)
def get_alert(session: SessionDep, principal: AlertReader, alert_id: DbId):
    return service.detail(session, service.visible_alert(session, principal, alert_id))


@router.post("/{alert_id}/transition", response_model=AlertDetail,
             responses={409: {"description": "Not a legal next step of this alert's lifecycle"}})
def transition(session: SessionDep, principal: SafetyOfficer, alert_id: DbId, body: TransitionIn, now: Now):
    alert = service.visible_alert(session, principal, alert_id)
    service.transition(session, principal, alert, body, now)
    session.commit()
    return service.detail(session, alert)


@router.post("/{alert_id}/assign", response_model=AlertDetail)
def assign(session: SessionDep, principal: SafetyOfficer, alert_id: DbId, body: AssignIn, now: Now):
    alert = service.visible_alert(session, principal, alert_id)
    service.assign(session, principal, alert, body.assignee_id, now)
    session.commit()
    return service.detail(session, alert)
