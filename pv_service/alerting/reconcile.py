"""Raise, refresh and close alerts from what a job currently sees (idempotent by key)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select

from pv_service.alerting.models import Alert, AlertEvent
from pv_service.alerting.moves import compare_and_set
from pv_service.alerting.workflow import OPERATIONAL_OPEN
from pv_service.audit import chain as audit

SYSTEM = "system"


@dataclass(frozen=True)
class AlertSpec:
    key: str
    type: str
    severity: str
    title: str
    subject_type: str
    subject_id: int | None
    product_id: int | None = None
    priority: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


def reconcile(session: Session, alert_type: str, key_prefix: str, current: list[AlertSpec], now: dt.datetime,
              ended: dict[str, tuple[str, str]] | None = None) -> dict[str, int]:
    """Make the open alerts under `key_prefix` match `current`.

    `ended` names causes that are over in a known way (key -> (resolution, comment)): their open
    alerts close with that resolution instead of `cause_gone`.

    New causes raise an alert; a cause seen again refreshes its alert (severity, detail,
    last_seen) without duplicating it; open alerts whose cause is gone are resolved
    with resolution `cause_gone`; such an alert reopens if its cause returns. An alert a
    person resolved stays resolved.
    """
    existing = {a.key: a for a in session.exec(
        select(Alert).where(Alert.type == alert_type, Alert.key.startswith(key_prefix, autoescape=True))
    )}
    raised = refreshed = reopened = closed = 0
    seen = set()
    for spec in current:
        seen.add(spec.key)
        alert = existing.get(spec.key)
        if alert is None:
            alert = Alert(
                key=spec.key, type=spec.type, status="open", severity=spec.severity, priority=spec.priority,
                title=spec.title, subject_type=spec.subject_type, subject_id=spec.subject_id,
                product_id=spec.product_id, detail=spec.detail, first_raised_at=now, last_seen_at=now,
            )
            session.add(alert)
            session.flush()
            log_event(session, alert, now, "raised", None, "open")
            raised += 1
            continue
        if alert.status == "resolved":
            if alert.resolution != "cause_gone":
                # A person closed it while the cause persists: their decision stands.
                alert.last_seen_at = now
                session.add(alert)
                refreshed += 1
                continue
            if not compare_and_set(session, alert, "resolved", Alert.resolution == "cause_gone",
                                   status="open", resolved_at=None, resolution=None):
                continue  # moved since this job read it: the next run sees it as it is
            log_event(session, alert, now, "reopened", "resolved", "open", "the cause is present again")
            reopened += 1
        else:
            refreshed += 1
        alert.severity, alert.priority, alert.title, alert.detail = spec.severity, spec.priority, spec.title, spec.detail
        alert.last_seen_at = now
        session.add(alert)
    ended = ended or {}
    for key, alert in existing.items():
        if key not in seen and alert.status in OPERATIONAL_OPEN:
            before = alert.status
            resolution, comment = ended.get(key, ("cause_gone", "the cause is gone"))
            if compare_and_set(session, alert, before, status="resolved", resolved_at=now, resolution=resolution):
                log_event(session, alert, now, "auto_resolved", before, "resolved", comment)
                closed += 1
    session.flush()
    return {"raised": raised, "refreshed": refreshed, "reopened": reopened, "closed": closed}


def log_event(session: Session, alert: Alert, now: dt.datetime, kind: str, from_status: str | None,
              to_status: str | None, comment: str | None = None, actor_id: int | None = None,
              actor: str = SYSTEM, action: str | None = None) -> None:
    """The alert's own history, mirrored into the tamper-evident audit trail."""
    session.add(AlertEvent(alert_id=alert.id, at=now, actor_id=actor_id, actor=actor, kind=kind,
                           from_status=from_status, to_status=to_status, action=action, comment=comment))
    audit.record(session, actor_id=actor_id, actor=actor, entity_type="alert", entity_id=alert.id, action=kind,
                 before={"status": from_status} if from_status else None,
                 after={"status": to_status, "action": action, "comment": comment, "key": alert.key}, now=now)
