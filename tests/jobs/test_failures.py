"""A failed run raises an alert for the operators and shows in /health; the next good run clears both."""
from __future__ import annotations

import dataclasses
import datetime as dt

from sqlmodel import Session, select

from pv_service.alerting.models import Alert
from pv_service.core.clock import utc_now
from pv_service.jobs.definitions import JOBS
from pv_service.jobs.models import JobRun
from pv_service.jobs.runner import run_job, tick_of

DAY = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.timezone.utc)


def _health(client) -> dict:
    """/health without its MedDRA and E2B parts (tests/meddra and tests/e2b check those)."""
    body = client.get("/health").json()
    assert body.pop("meddra")["loaded"] is False
    assert "schemas_loaded" in body.pop("e2b")
    return body


def at(moment):
    return lambda: moment


def _failure_alerts(db):
    with Session(db) as s:
        return list(s.exec(select(Alert).where(Alert.type == "job_failed")))


def test_a_failed_run_alerts_the_operators_until_a_run_succeeds(client, db, world, treated):
    def broken(session, now):
        raise RuntimeError("rules section missing: followup_plans")

    spec = dataclasses.replace(JOBS["followup-compliance"], func=broken)
    assert _health(client) == {"status": "ok", "jobs": {"failed": [], "stale": []}}
    first = run_job(db, spec, at(DAY))
    assert first.outcome == "failed" and "rules section missing" in first.error
    again = run_job(db, spec, at(DAY + dt.timedelta(days=1)))
    [alert] = _failure_alerts(db)  # a second failure refreshes the one alert
    assert (alert.key, alert.status, alert.severity) == ("job:followup-compliance:failed", "open", "high")
    assert alert.detail["run_id"] == again.id and "rules section missing" in alert.detail["error"]
    assert _health(client) == {"status": "degraded", "jobs": {"failed": ["followup-compliance"], "stale": []}}
    # Operators see it in the queue; clinics and MAHs do not.
    for actor in (world.admin, world.safety):
        r = client.get("/v1/alerts", params={"type": "job_failed"}, headers=actor.headers)
        assert r.status_code == 200 and [a["key"] for a in r.json()["items"]] == [alert.key]
    for actor in (world.clinic, world.mah):
        assert client.get("/v1/alerts", headers=actor.headers).json()["items"] == []
    # Another job's success does not clear it; this job's does.
    assert run_job(db, JOBS["reporting-clocks"], at(DAY + dt.timedelta(days=1, hours=1))).outcome == "succeeded"
    assert _failure_alerts(db)[0].status == "open"
    assert run_job(db, JOBS["followup-compliance"], at(DAY + dt.timedelta(days=2))).outcome == "succeeded"
    [alert] = _failure_alerts(db)
    assert (alert.status, alert.resolution) == ("resolved", "cause_gone")
    assert client.get("/health").json()["status"] == "ok"


def test_health_names_a_run_whose_scheduler_died(client, db):
    spec = JOBS["signal-detection"]
    with Session(db) as s:
        s.add(JobRun(job=spec.name, tick=tick_of(spec.period, DAY), trigger="scheduled", as_of=DAY.date(),
                     started_at=DAY, outcome="running", lease_until=utc_now() - dt.timedelta(seconds=5)))
        s.add(JobRun(job="reporting-clocks", tick=DAY, trigger="scheduled", as_of=DAY.date(), started_at=DAY,
                     outcome="running", lease_until=utc_now() + dt.timedelta(minutes=5)))  # alive: not stale
        s.commit()
    assert _health(client) == {"status": "degraded", "jobs": {"failed": [], "stale": ["signal-detection"]}}
