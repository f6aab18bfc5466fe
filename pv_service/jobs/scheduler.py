"""APScheduler 3.11 wiring: the schedule lives in code (jobs.registry); runs claim ticks in the database."""
from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.engine import Engine

from pv_service.core.clock import Clock, utc_now
from pv_service.jobs.runner import JobSpec, run_job

log = logging.getLogger(__name__)


def build_scheduler(engine: Engine, specs: list[JobSpec], clock: Clock = utc_now, blocking: bool = False):
    cls = BlockingScheduler if blocking else BackgroundScheduler
    # No job store is shared between processes (APScheduler 3 cannot); the database claim is what
    # keeps two schedulers from running a tick twice.
    scheduler = cls(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
    for spec in specs:
        scheduler.add_job(run_job, CronTrigger(timezone="UTC", **spec.cron), args=[engine, spec, clock],
                          id=spec.name, name=spec.description, replace_existing=True)
        log.info("scheduled %s: %s", spec.name, spec.cron)
    return scheduler
