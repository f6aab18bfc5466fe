"""Claims hold a lease: a run whose process died is taken over and done once; a live one is left alone."""
from __future__ import annotations

import datetime as dt
import threading
import time

from sqlmodel import Session, select

from pv_service.alerting.models import Alert
from pv_service.core.clock import utc_now
from pv_service.jobs.definitions import JOBS
from pv_service.jobs.models import JobRun
from pv_service.jobs.runner import JobSpec, execute, run_job, tick_of
from pv_service.jobs.scheduler import catch_up
from tests.conftest import concurrently

DAY = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.timezone.utc)


def clock_at(moment: dt.datetime):
    return lambda: moment


def _orphan(db, job: str, lease_until: dt.datetime, moment: dt.datetime = DAY) -> int:
    """The row a scheduler leaves behind when it is killed in the middle of a run."""
    spec = JOBS[job]
    with Session(db, expire_on_commit=False) as s:
        run = JobRun(job=job, tick=tick_of(spec.period, moment), trigger="scheduled", as_of=moment.date(),
                     started_at=moment, outcome="running", lease_until=lease_until, attempt=1)
        s.add(run)
        s.commit()
        return run.id


def _runs(db, job: str) -> list[JobRun]:
    with Session(db) as s:
        return list(s.exec(select(JobRun).where(JobRun.job == job)))


def test_a_run_whose_process_died_is_taken_over_and_done_once(db, treated):
    run_id = _orphan(db, "followup-compliance", lease_until=utc_now() - dt.timedelta(seconds=1))
    taken = run_job(db, JOBS["followup-compliance"], clock_at(DAY + dt.timedelta(hours=1)))
    assert taken is not None and taken.id == run_id
    assert (taken.outcome, taken.attempt) == ("succeeded", 2), taken.error
    # The tick is done now: a third scheduler skips it, and there is still one row.
    assert run_job(db, JOBS["followup-compliance"], clock_at(DAY + dt.timedelta(hours=2))) is None
    assert [(r.outcome, r.attempt) for r in _runs(db, "followup-compliance")] == [("succeeded", 2)]


def test_a_live_lease_is_not_taken_over(db, treated):
    _orphan(db, "followup-compliance", lease_until=utc_now() + dt.timedelta(minutes=5))
    assert run_job(db, JOBS["followup-compliance"], clock_at(DAY + dt.timedelta(hours=1))) is None
    assert [(r.outcome, r.attempt) for r in _runs(db, "followup-compliance")] == [("running", 1)]


def test_a_run_that_lost_its_lease_does_not_commit_its_work(db, session, treated):
    """The slow first owner finishing after a takeover must not do the tick's work a second time."""
    run_id = _orphan(db, "followup-compliance", lease_until=utc_now() + dt.timedelta(minutes=5))
    with Session(db) as s:  # another scheduler took the run over (attempt 2) while this one stalled
        row = s.get(JobRun, run_id)
        row.attempt = 2
        s.add(row)
        s.commit()
    result = execute(db, JOBS["followup-compliance"], run_id, DAY, clock_at(DAY), attempt=1)
    assert result.outcome == "superseded"
    assert session.exec(select(Alert).where(Alert.type == "followup")).all() == []
    assert [(r.outcome, r.attempt) for r in _runs(db, "followup-compliance")] == [("running", 2)]


def test_the_heartbeat_keeps_a_long_run_from_being_taken_over(db):
    started = threading.Event()

    def slow(session, now):
        started.set()
        time.sleep(4.0)
        return {"slept": 1}

    spec = JobSpec("slow-job", slow, {"minute": 0}, "hourly", "sleeps past its first lease")
    results = {}
    worker = threading.Thread(target=lambda: results.setdefault(
        "first", run_job(db, spec, clock_at(DAY), lease=dt.timedelta(seconds=1.5))))
    worker.start()
    assert started.wait(10)
    time.sleep(3.2)  # two leases have passed; the heartbeat renewed it
    assert run_job(db, spec, clock_at(DAY), lease=dt.timedelta(seconds=1.5)) is None
    worker.join(20)
    assert results["first"].outcome == "succeeded" and results["first"].attempt == 1


def test_a_scheduler_started_after_the_tick_catches_it_up_once(db, treated):
    # 03:00: the daily jobs' times (01:00, 01:30, 02:00, 02:30) have passed; reporting-clocks' 03:05 has not.
    ran = catch_up(db, list(JOBS.values()), clock_at(DAY))
    assert sorted(ran) == ["confirmatory-deadlines", "duplicate-detection", "followup-compliance",
                           "sequential-monitoring", "signal-detection"]
    assert catch_up(db, list(JOBS.values()), clock_at(DAY + dt.timedelta(minutes=1))) == []
    assert catch_up(db, list(JOBS.values()), clock_at(DAY + dt.timedelta(minutes=10))) == ["reporting-clocks"]
    # A crashed run of the current tick is taken over by the next sweep.
    _orphan(db, "reporting-clocks", lease_until=utc_now() - dt.timedelta(seconds=1), moment=DAY + dt.timedelta(hours=1))
    assert catch_up(db, list(JOBS.values()), clock_at(DAY + dt.timedelta(hours=1, minutes=10))) == ["reporting-clocks"]
    assert all(r.outcome == "succeeded" for r in _runs(db, "reporting-clocks"))


def test_two_schedulers_taking_over_the_same_orphan_run_it_once(db, treated):
    _orphan(db, "followup-compliance", lease_until=utc_now() - dt.timedelta(seconds=1))
    results = concurrently(lambda: run_job(db, JOBS["followup-compliance"], clock_at(DAY + dt.timedelta(hours=1))))
    ran = [r for r in results if r is not None]
    assert len(ran) == 1 and (ran[0].outcome, ran[0].attempt) == ("succeeded", 2)
    assert [(r.outcome, r.attempt) for r in _runs(db, "followup-compliance")] == [("succeeded", 2)]
