"""Run a job once per tick, however many schedulers are alive, and whichever of them dies.

A run first claims its tick by inserting the unique (job, tick) row in its own committed
transaction, with a lease (`lease_until`) that a heartbeat thread renews while the work
runs. A second scheduler's insert fails: it skips the tick while the lease is live, and
takes the run over (a conditional UPDATE that bumps `attempt`) once the lease has expired,
i.e. once the first owner died or lost the database.

The work runs in one transaction (on PostgreSQL under a transaction-scoped advisory lock
per job, so a manual run never overlaps a scheduled one) that also records the outcome,
but only if the run row still carries this owner's attempt: an owner that was taken over
rolls its work back, so the tick's work is committed exactly once. Leases measure real
elapsed time (the wall clock); the job's "now" is the injected clock.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pv_service.core.clock import Clock, utc_now
from pv_service.core.db import unbounded_statements
from pv_service.core.settings import get_settings
from pv_service.jobs.failures import record_failure, resolve_failure
from pv_service.jobs.models import JobRun

log = logging.getLogger(__name__)

JobFunc = Callable[[Session, dt.datetime], dict[str, Any]]
RUNS = JobRun.__table__


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: JobFunc
    cron: dict[str, Any]  # APScheduler CronTrigger fields, UTC
    period: str  # "hourly" or "daily": the tick a run belongs to
    description: str


@dataclass(frozen=True)
class Claim:
    run_id: int
    attempt: int
    now: dt.datetime  # the job's "now"


def tick_of(period: str, now: dt.datetime) -> dt.datetime:
    now = now.astimezone(dt.timezone.utc)
    if period == "hourly":
        return now.replace(minute=0, second=0, microsecond=0)
    if period == "daily":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(f"unknown period {period!r}")


def default_lease() -> dt.timedelta:
    return dt.timedelta(seconds=get_settings().job_lease_seconds)


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def claim(engine: Engine, spec: JobSpec, tick: dt.datetime, trigger: str, as_of: dt.date,
          started: dt.datetime, lease: dt.timedelta | None = None) -> tuple[int, int] | None:
    """Insert the run row for (job, tick), or take over a run whose lease expired.

    Returns (run id, attempt), or None while another process holds the tick or it is done.
    """
    lease = lease or default_lease()
    with Session(engine) as session:
        run = JobRun(job=spec.name, tick=tick, trigger=trigger, as_of=as_of, started_at=started, outcome="running",
                     lease_until=utc_now() + lease, attempt=1)
        session.add(run)
        try:
            session.commit()
            return run.id, 1
        except IntegrityError:
            session.rollback()
    return take_over(engine, spec.name, tick, started, lease)


def take_over(engine: Engine, job: str, tick: dt.datetime, started: dt.datetime,
              lease: dt.timedelta) -> tuple[int, int] | None:
    """Claim a `running` row whose lease expired; exactly one of concurrent callers wins."""
    wall = utc_now()
    expired = sa.and_(RUNS.c.job == job, RUNS.c.tick == tick, RUNS.c.outcome == "running",
                      sa.or_(RUNS.c.lease_until.is_(None), RUNS.c.lease_until < wall))
    with engine.begin() as conn:
        row = conn.execute(sa.select(RUNS.c.id, RUNS.c.attempt).where(expired)).first()
        if row is None:
            return None
        won = conn.execute(sa.update(RUNS).where(expired, RUNS.c.attempt == row.attempt).values(
            attempt=row.attempt + 1, lease_until=wall + lease, started_at=started)).rowcount
    if won != 1:
        return None
    log.warning("job %s tick %s: lease of attempt %d expired; taken over", job, tick.isoformat(), row.attempt)
    return row.id, row.attempt + 1


def run_job(engine: Engine, spec: JobSpec, clock: Clock, trigger: str = "scheduled",
            as_of: dt.date | None = None, lease: dt.timedelta | None = None) -> JobRun | None:
    """Claim this tick and run the job; returns the finished run, or None if the tick was taken.

    `as_of` (manual runs) evaluates the rules as at the end of that calendar day.
    """
    claimed = claim_run(engine, spec, clock, trigger, as_of, lease)
    if claimed is None:
        return None
    return execute(engine, spec, claimed.run_id, claimed.now, clock, claimed.attempt, lease)


def claim_run(engine: Engine, spec: JobSpec, clock: Clock, trigger: str = "scheduled",
              as_of: dt.date | None = None, lease: dt.timedelta | None = None) -> Claim | None:
    """The claimed run, or None when another process holds this tick (or it is done)."""
    started = clock()
    now = started if as_of is None else dt.datetime.combine(as_of, dt.time(23, 59, 59), tzinfo=dt.timezone.utc)
    # A manual run's tick only has to be unique: the wall clock's microseconds serve.
    tick = tick_of(spec.period, started) if trigger == "scheduled" else dt.datetime.now(dt.timezone.utc)
    claimed = claim(engine, spec, tick, trigger, now.date(), started, lease)
    if claimed is None:
        log.info("job %s tick %s already claimed; skipping", spec.name, tick.isoformat())
        return None
    return Claim(claimed[0], claimed[1], now)


class Heartbeat:
    """Renews a run's lease from a thread of its own while the work runs."""

    def __init__(self, engine: Engine, run_id: int, attempt: int, lease: dt.timedelta):
        self.engine, self.run_id, self.attempt, self.lease = engine, run_id, attempt, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{run_id}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        interval = self.lease.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                with self.engine.begin() as conn:
                    kept = conn.execute(sa.update(RUNS).where(
                        RUNS.c.id == self.run_id, RUNS.c.attempt == self.attempt, RUNS.c.outcome == "running",
                    ).values(lease_until=utc_now() + self.lease)).rowcount
            except Exception as exc:  # the database is away: try again; the lease may lapse
                log.warning("job run %s: lease not renewed: %s", self.run_id, exc)
                continue
            if not kept:
                log.warning("job run %s: lease lost to another scheduler", self.run_id)
                return


def _finish(conn, run_id: int, attempt: int, **values) -> bool:
    """Record the outcome if this owner still holds the run (fenced by the attempt)."""
    return conn.execute(sa.update(RUNS).where(
        RUNS.c.id == run_id, RUNS.c.attempt == attempt, RUNS.c.outcome == "running",
    ).values(lease_until=None, **values)).rowcount == 1


class _Superseded(Exception):
    pass


def execute(engine: Engine, spec: JobSpec, run_id: int, now: dt.datetime, clock: Clock, attempt: int = 1,
            lease: dt.timedelta | None = None) -> JobRun:
    """Do the work of a claimed run in one transaction, with its outcome, and return the run.

    A run taken over meanwhile commits nothing ("superseded"); a failed run is recorded
    and raises a `job_failed` alert; a successful one resolves that alert.
    """
    lease = lease or default_lease()
    outcome = "succeeded"
    try:
        with Heartbeat(engine, run_id, attempt, lease), Session(engine, expire_on_commit=False) as session:
            if engine.dialect.name == "postgresql":
                unbounded_statements(session.connection())
                session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _advisory_key(spec.name)})
            counts = spec.func(session, now) or {}
            resolve_failure(session, spec.name, now)
            if not _finish(session.connection(), run_id, attempt, outcome="succeeded", counts=_jsonable(counts),
                           error=None, finished_at=clock()):
                raise _Superseded
            session.commit()
    except _Superseded:
        outcome = "superseded"
        log.warning("job %s run %s attempt %d was taken over; its work is rolled back", spec.name, run_id, attempt)
    except Exception as exc:  # a failed run is recorded, never lost, and the scheduler lives on
        outcome, error = "failed", "".join(traceback.format_exception_only(exc)).strip()
        log.exception("job %s failed", spec.name)
        with Session(engine, expire_on_commit=False) as session:
            if _finish(session.connection(), run_id, attempt, outcome="failed", counts={}, error=error,
                       finished_at=clock()):
                record_failure(session, spec.name, run_id, attempt, error, now)
            else:
                outcome = "superseded"
            session.commit()
    with Session(engine, expire_on_commit=False) as session:
        run = session.get(JobRun, run_id)
        if outcome == "superseded":
            # What this owner saw, not the row (the row belongs to the attempt that took over).
            session.expunge(run)
            run.outcome, run.attempt = outcome, attempt
        return run


def _jsonable(counts: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in counts.items()}
