"""APScheduler 3.11 wiring: the schedule lives in code (jobs.definitions); runs claim ticks in the database.

APScheduler's memory job store forgets a tick that passed while no scheduler ran (a
restart after 01:00 would wait for tomorrow's 01:00), and a run whose scheduler died
holds its tick until its lease expires. So a sweep, at start and then every lease
period, runs every job whose tick time has passed and whose tick is not done or
held: the database claim makes the sweep and the cron runs harmless to each other.
"""
from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from pv_service.core.clock import Clock, utc_now
from pv_service.jobs.models import JobRun
from pv_service.jobs.runner import JobSpec, default_lease, run_job, tick_of

log = logging.getLogger(__name__)
RUNS = JobRun.__table__


def _due(spec: JobSpec, now: dt.datetime) -> dt.datetime | None:
    """The current tick if its scheduled time has passed, else None (the cron will run it)."""
    tick = tick_of(spec.period, now)
    first = CronTrigger(timezone="UTC", **spec.cron).get_next_fire_time(None, tick)
    return tick if first is not None and first <= now else None


def _wanting(engine: Engine, spec: JobSpec, tick: dt.datetime) -> bool:
    """No run holds the tick, or its run's lease expired (a read first: failed inserts are noise)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(RUNS.c.outcome, RUNS.c.lease_until)
                           .where(RUNS.c.job == spec.name, RUNS.c.tick == tick)).first()
    if row is None:
        return True
    lease_until = row.lease_until
    if lease_until is not None and lease_until.tzinfo is None:
        lease_until = lease_until.replace(tzinfo=dt.timezone.utc)
    return row.outcome == "running" and (lease_until is None or lease_until < utc_now())


def catch_up(engine: Engine, specs: list[JobSpec], clock: Clock = utc_now) -> list[str]:
    """Run each job whose current tick is due and not done or held; the names of those run."""
    ran = []
    now = clock()
    for spec in specs:
        tick = _due(spec, now)
        if tick is None or not _wanting(engine, spec, tick):
            continue
        try:
            if run_job(engine, spec, clock) is not None:
                ran.append(spec.name)
        except Exception:  # the database is away: the next sweep tries again
            log.exception("catch-up of job %s failed", spec.name)
    return ran


def build_scheduler(engine: Engine, specs: list[JobSpec], clock: Clock = utc_now, blocking: bool = False):
    cls = BlockingScheduler if blocking else BackgroundScheduler
    # No job store is shared between processes (APScheduler 3 cannot); the database claim is what
    # keeps two schedulers from running a tick twice. A cron fire missed by more than the grace
    # time is left to the sweep.
    scheduler = cls(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
    for spec in specs:
        scheduler.add_job(run_job, CronTrigger(timezone="UTC", **spec.cron), args=[engine, spec, clock],
                          id=spec.name, name=spec.description, replace_existing=True)
        log.info("scheduled %s: %s", spec.name, spec.cron)
    scheduler.add_job(catch_up, IntervalTrigger(seconds=default_lease().total_seconds(), timezone="UTC"),
                      args=[engine, specs, clock], id="catch-up", name="missed and orphaned ticks",
                      next_run_time=dt.datetime.now(dt.timezone.utc), replace_existing=True)
    return scheduler
