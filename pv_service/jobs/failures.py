"""A failed job run raises an alert for the operators; the job's next successful run resolves it."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from pv_service.alerting.reconcile import AlertSpec, reconcile

ALERT_TYPE = "job_failed"


def _prefix(job: str) -> str:
    # Ends with ":" so one job's prefix never matches another job's key.
    return f"job:{job}:"


def record_failure(session: Session, job: str, run_id: int, attempt: int, error: str, now: dt.datetime) -> None:
    """Raise (or refresh) the job's failure alert; repeated failures update the one alert."""
    spec = AlertSpec(
        key=_prefix(job) + "failed", type=ALERT_TYPE, severity="high", subject_type="job_run", subject_id=run_id,
        priority=80.0, title=f"Job {job} failed (run {run_id})",
        # The exception's one-line summary only: job errors name rules and tables, never patients.
        detail={"job": job, "run_id": run_id, "attempt": attempt, "error": error[:2000]},
    )
    reconcile(session, ALERT_TYPE, _prefix(job), [spec], now)


def resolve_failure(session: Session, job: str, now: dt.datetime) -> None:
    """Inside a successful run's transaction: the cause is gone."""
    reconcile(session, ALERT_TYPE, _prefix(job), [], now)
