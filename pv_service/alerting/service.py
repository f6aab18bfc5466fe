"""People acting on alerts: transitions and assignment, each recorded with who, when and why."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session, select

from pv_service.alerting.models import Alert, AlertEvent
from pv_service.alerting.moves import compare_and_set
from pv_service.alerting.reconcile import log_event
from pv_service.alerting.schemas import (
    AlertDetail,
    AlertEventPublic,
    AlertPublic,
    TransitionIn,
)
from pv_service.alerting.workflow import (
    IllegalTransition,
    check_transition,
    transitions_for,
)
from pv_service.auth.models import User
from pv_service.auth.principal import Principal
from pv_service.common.errors import Conflict, InvalidInput, NotFound
from pv_service.common.vocab import Role
from pv_service.patients.models import Patient, Treatment
from pv_service.products.models import Product


def alert_filter(principal: Principal):
    """Safety officers see every alert; an MAH its products' alerts; a clinic its patients' follow-up alerts;
    an admin the failed-job alerts."""
    if principal.role == Role.safety_officer:
        return sa.true()
    if principal.role == Role.mah:
        return Alert.product_id.in_(select(Product.id).where(Product.mah_organization_id == principal.organization_id))
    if principal.role == Role.admin:  # operators see the jobs' own failures
        return Alert.type == "job_failed"
    if principal.role == Role.clinic:
        return sa.or_(
            sa.and_(Alert.subject_type == "clinic", Alert.subject_id == principal.organization_id),
            sa.and_(Alert.subject_type == "treatment", Alert.subject_id.in_(
                select(Treatment.id).join(Patient, Patient.id == Treatment.patient_id)
                .where(Patient.clinic_id == principal.organization_id))))
    return sa.false()


def visible_alert(session: Session, principal: Principal, alert_id: int) -> Alert:
    alert = session.exec(select(Alert).where(Alert.id == alert_id, alert_filter(principal))).first()
    if alert is None:
        raise NotFound("no such alert")
    return alert


def detail(session: Session, alert: Alert) -> AlertDetail:
    events = session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.id)).all()
    return AlertDetail(**AlertPublic.model_validate(alert).model_dump(),
                       events=[AlertEventPublic.model_validate(e) for e in events],
                       next_steps=list(transitions_for(alert.type).get(alert.status, ())))


def transition(session: Session, principal: Principal, alert: Alert, body: TransitionIn, now: dt.datetime) -> Alert:
    try:
        check_transition(alert.type, alert.status, body.to, body.action.value if body.action else None)
    except IllegalTransition as exc:
        raise Conflict(str(exc)) from None
    before = alert.status
    values: dict = {"status": body.to, "status_since": now, **review_values(alert, now)}
    if body.to in ("closed", "resolved"):
        values.update(resolved_at=now, resolution=body.action.value if body.action else "resolved_by_user",
                      detail={**alert.detail, "n_at_close": alert.detail.get("n")})
    if not compare_and_set(session, alert, before, **values):
        session.refresh(alert)
        raise Conflict(f"the alert moved meanwhile from {before} to {alert.status}: "
                       f"cannot move it to {body.to}; reload it and decide again")
    log_event(session, alert, now, "transition", before, body.to, body.comment, principal.user_id,
              principal.username, body.action.value if body.action else None)
    return alert


def review_values(alert: Alert, now: dt.datetime) -> dict:
    """A person acted on the alert: the cases it holds now are no longer new evidence."""
    n = alert.detail.get("n") if isinstance(alert.detail, dict) else None
    return {"reviewed_at": now, "reviewed_n": int(n) if isinstance(n, (int, float)) else None}


def assign(session: Session, principal: Principal, alert: Alert, assignee_id: int | None, now: dt.datetime) -> Alert:
    if assignee_id is not None:
        user = session.get(User, assignee_id)
        if user is None or user.role != Role.safety_officer:
            raise InvalidInput.one(("body", "assignee_id"), "must be a safety officer")
    before = alert.assignee_id
    alert.assignee_id = assignee_id
    session.add(alert)
    log_event(session, alert, now, "assigned", alert.status, alert.status,
              f"assignee {before} -> {assignee_id}", principal.user_id, principal.username)
    return alert
