"""Run a job once per tick, however many schedulers are alive.

A run first claims its tick by inserting the unique (job, tick) row in its own committed
transaction: a second scheduler's insert fails and it skips. The work then runs in one
transaction (on PostgreSQL under a transaction-scoped advisory lock per job, so a manual
run never overlaps a scheduled one), and the run row records the outcome.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pv_service.core.clock import Clock
from pv_service.jobs.models import JobRun

log = logging.getLogger(__name__)

JobFunc = Callable[[Session, dt.datetime], dict[str, Any]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: JobFunc
    cron: dict[str, Any]  # APScheduler CronTrigger fields, UTC
    period: str  # "hourly" or "daily": the tick a run belongs to
    description: str


def tick_of(period: str, now: dt.datetime) -> dt.datetime:
    now = now.astimezone(dt.timezone.utc)
    if period == "hourly":
        return now.replace(minute=0, second=0, microsecond=0)
    if period == "daily":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(f"unknown period {period!r}")


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def claim(engine: Engine, spec: JobSpec, tick: dt.datetime, trigger: str, as_of: dt.date,
          started: dt.datetime) -> int | None:
    """Insert the run row for (job, tick); None when another process already holds it."""
    with Session(engine) as session:
        run = JobRun(job=spec.name, tick=tick, trigger=trigger, as_of=as_of, started_at=started, outcome="running")
        session.add(run)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return None
        return run.id


def run_job(engine: Engine, spec: JobSpec, clock: Clock, trigger: str = "scheduled",
            as_of: dt.date | None = None) -> JobRun | None:
    """Claim this tick and run the job; returns the finished run, or None if the tick was taken.

    `as_of` (manual runs) evaluates the rules as at the end of that calendar day.
    """
    claimed = claim_run(engine, spec, clock, trigger, as_of)
    if claimed is None:
        return None
    run_id, now = claimed
    return execute(engine, spec, run_id, now, clock)


def claim_run(engine: Engine, spec: JobSpec, clock: Clock, trigger: str = "scheduled",
              as_of: dt.date | None = None) -> tuple[int, dt.datetime] | None:
    """The run id and the job's "now", or None when another process holds this tick."""
    started = clock()
    now = started if as_of is None else dt.datetime.combine(as_of, dt.time(23, 59, 59), tzinfo=dt.timezone.utc)
    # A manual run's tick only has to be unique: the wall clock's microseconds serve.
    tick = tick_of(spec.period, started) if trigger == "scheduled" else dt.datetime.now(dt.timezone.utc)
    run_id = claim(engine, spec, tick, trigger, now.date(), started)
    if run_id is None:
        log.info("job %s tick %s already claimed; skipping", spec.name, tick.isoformat())
        return None
    return run_id, now


def execute(engine: Engine, spec: JobSpec, run_id: int, now: dt.datetime, clock: Clock) -> JobRun:
    """Do the work of a claimed run in one transaction and record how it ended."""
    outcome, counts, error = "succeeded", {}, None
    try:
        with Session(engine, expire_on_commit=False) as session:
            if engine.dialect.name == "postgresql":
                session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _advisory_key(spec.name)})
            counts = spec.func(session, now) or {}
            session.commit()
    except Exception as exc:  # a failed run is recorded, never lost, and the scheduler lives on
        outcome, error = "failed", "".join(traceback.format_exception_only(exc)).strip()
        log.exception("job %s failed", spec.name)
    with Session(engine, expire_on_commit=False) as session:
        run = session.get(JobRun, run_id)
        run.outcome, run.counts, run.error = outcome, _jsonable(counts), error
        run.finished_at = clock()
        session.add(run)
        session.commit()
        return run


def _jsonable(counts: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in counts.items()}
