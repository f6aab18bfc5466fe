"""Raise, refresh and close alerts from what a job currently sees (idempotent by key)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select

from pv_service.alerting.models import Alert

OPEN_OPERATIONAL = ("open", "acknowledged")


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


def reconcile(session: Session, alert_type: str, key_prefix: str, current: list[AlertSpec], now: dt.datetime) -> dict[str, int]:
    """Make the open alerts under `key_prefix` match `current`.

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
            session.add(Alert(
                key=spec.key, type=spec.type, status="open", severity=spec.severity, priority=spec.priority,
                title=spec.title, subject_type=spec.subject_type, subject_id=spec.subject_id,
                product_id=spec.product_id, detail=spec.detail, first_raised_at=now, last_seen_at=now,
            ))
            raised += 1
            continue
        if alert.status == "resolved":
            if alert.resolution != "cause_gone":
                # A person closed it while the cause persists: their decision stands.
                alert.last_seen_at = now
                session.add(alert)
                refreshed += 1
                continue
            alert.status, alert.resolved_at, alert.resolution = "open", None, None
            reopened += 1
        else:
            refreshed += 1
        alert.severity, alert.priority, alert.title, alert.detail = spec.severity, spec.priority, spec.title, spec.detail
        alert.last_seen_at = now
        session.add(alert)
    for key, alert in existing.items():
        if key not in seen and alert.status in OPEN_OPERATIONAL:
            alert.status, alert.resolved_at, alert.resolution = "resolved", now, "cause_gone"
            session.add(alert)
            closed += 1
    session.flush()
    return {"raised": raised, "refreshed": refreshed, "reopened": reopened, "closed": closed}
