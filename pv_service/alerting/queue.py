"""The triaged queue: which view an alert belongs to, and the order alerts are worked in.

Views split the queue by the work it asks for. Unreviewed signals (status new) come first in
every view that holds them, whatever an operational alert's priority: nothing operational
outranks a signal nobody has looked at. Within that, priority, then the oldest alert first.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from pv_service.alerting.models import Alert

# (name, label), in the order the page shows them.
VIEWS: tuple[tuple[str, str], ...] = (
    ("all", "All"),
    ("signals", "Signals"),
    ("data_quality", "Data quality"),
    ("reporting_clocks", "Reporting clocks"),
    ("deadlines", "Deadlines"),
    ("followup", "Follow-up"),
)
VIEW_NAMES = tuple(name for name, _ in VIEWS)
# Follow-up alerts about a product's configuration (no usable plan), not about patients' visits.
_PLAN_PREFIX = "followup:plan:"


def _data_quality():
    return sa.or_(Alert.type.in_(("job_failed", "data_quality")),
                  sa.and_(Alert.type == "followup", Alert.key.startswith(_PLAN_PREFIX, autoescape=True)))


def view_condition(view: str):
    """The SQL condition of one view (`all`: every alert)."""
    if view == "all":
        return sa.true()
    if view == "signals":
        return Alert.type == "signal"
    if view == "data_quality":
        return _data_quality()
    if view == "reporting_clocks":
        return Alert.type == "reporting_clock"
    if view == "deadlines":
        return Alert.type == "deadline"
    if view == "followup":
        return sa.and_(Alert.type == "followup", sa.not_(Alert.key.startswith(_PLAN_PREFIX, autoescape=True)))
    raise ValueError(f"unknown view {view!r}")


def view_of(alert_type: str, key: str) -> str:
    """The view (other than `all`) an alert is listed in (the Python twin of view_condition)."""
    if alert_type == "signal":
        return "signals"
    if alert_type in ("job_failed", "data_quality") or key.startswith(_PLAN_PREFIX):
        return "data_quality"
    return {"reporting_clock": "reporting_clocks", "deadline": "deadlines"}.get(alert_type, "followup")


def unreviewed_signal():
    return sa.and_(Alert.type == "signal", Alert.status == "new")


def triage_order() -> tuple:
    """Unreviewed signals first, then priority (highest first), then the oldest alert."""
    return (sa.case((unreviewed_signal(), 0), else_=1), Alert.priority.desc(), Alert.id)


def view_counts(session: Session, conditions: list) -> dict[str, int]:
    """Alerts per view under `conditions` (the views partition `all`)."""
    kind = sa.case((Alert.type == "signal", "signals"), (_data_quality(), "data_quality"),
                   (Alert.type == "reporting_clock", "reporting_clocks"), (Alert.type == "deadline", "deadlines"),
                   else_="followup").label("view")
    rows = session.exec(select(kind, sa.func.count()).where(*conditions).group_by(kind)).all()
    counts = {name: 0 for name in VIEW_NAMES}
    for name, n in rows:
        counts[name] = int(n)
    counts["all"] = sum(v for k, v in counts.items() if k != "all")
    return counts
