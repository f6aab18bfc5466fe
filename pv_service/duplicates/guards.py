"""Data-quality guards that need no review (pure rules), and their alerts.

Too many reports about one patient in a short time, or a burst of identical reports from one
sender, are a feed problem (a loop in a sender's gateway, a test run against production), not
evidence: the safety officers get a data-quality alert at once, before any statistic runs.
"""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from pv_service.alerting.models import Alert
from pv_service.alerting.reconcile import AlertSpec, log_event
from pv_service.rules.duplicates import Guards

ALERT_TYPE = "data_quality"


def patient_burst(n_recent: int, guards: Guards) -> bool:
    """More reports about one patient within the window than the rule allows."""
    return n_recent > guards.patient_reports.max_reports


def identical_burst(n_recent: int, guards: Guards) -> bool:
    return n_recent > guards.identical_reports.max_reports


def patient_spec(patient_id: int, n: int, guards: Guards, case_ids: list[int]) -> AlertSpec:
    rule = guards.patient_reports
    return AlertSpec(
        key=f"data_quality:patient:{patient_id}", type=ALERT_TYPE, severity=guards.severity,
        subject_type="patient", subject_id=patient_id, priority=80.0,
        title=f"Patient {patient_id}: {n} reports within {rule.days} days (rule: at most {rule.max_reports})",
        detail={"rule": "patient_reports", "n": n, "max_reports": rule.max_reports, "days": rule.days,
                "recent_case_ids": case_ids[-50:]})


def identical_spec(sender_id: int, content_hash: str, n: int, guards: Guards, case_ids: list[int]) -> AlertSpec:
    rule = guards.identical_reports
    return AlertSpec(
        key=f"data_quality:identical:{sender_id}:{content_hash[:16]}", type=ALERT_TYPE, severity=guards.severity,
        subject_type="organization", subject_id=sender_id, priority=85.0,
        title=f"Sender {sender_id}: {n} identical reports within {rule.hours} hours (rule: at most "
              f"{rule.max_reports}); each is queued as a duplicate of the first",
        detail={"rule": "identical_reports", "n": n, "max_reports": rule.max_reports, "hours": rule.hours,
                "content_hash": content_hash, "recent_case_ids": case_ids[-50:]})


def raise_or_refresh(session: Session, spec: AlertSpec, now: dt.datetime) -> Alert:
    """Raise the alert, or refresh it (its count); a resolved one reopens when the burst goes on."""
    alert = session.exec(select(Alert).where(Alert.key == spec.key)).first()
    if alert is None:
        alert = Alert(key=spec.key, type=spec.type, status="open", severity=spec.severity, priority=spec.priority,
                      title=spec.title, subject_type=spec.subject_type, subject_id=spec.subject_id,
                      product_id=spec.product_id, detail=spec.detail, first_raised_at=now, last_seen_at=now)
        session.add(alert)
        session.flush()
        log_event(session, alert, now, "raised", None, "open", spec.title)
        return alert
    if alert.status == "resolved" and spec.detail.get("n", 0) > (alert.detail or {}).get("n", 0):
        log_event(session, alert, now, "reopened", "resolved", "open", f"the burst goes on: {spec.title}")
        alert.status, alert.resolved_at, alert.resolution = "open", None, None
    alert.title, alert.detail, alert.last_seen_at = spec.title, spec.detail, now
    session.add(alert)
    return alert
