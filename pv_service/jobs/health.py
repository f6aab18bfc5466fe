"""What /health says about the jobs: which failed last time, which runs lost their scheduler.

A few indexed lookups (the latest finished run per job, the running rows), so a load
balancer may poll it.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pv_service.core.clock import as_utc
from pv_service.jobs.models import JobRun

RUNS = JobRun.__table__


def job_health(conn: Connection, jobs: list[str], wall_now: dt.datetime) -> dict[str, list[str]]:
    """`failed`: jobs whose latest finished run failed; `stale`: jobs with a running run whose lease expired."""
    latest = [sa.select(RUNS.c.job, RUNS.c.outcome).where(RUNS.c.job == job, RUNS.c.outcome != "running")
              .order_by(RUNS.c.id.desc()).limit(1).subquery().select() for job in jobs]
    failed = sorted(r.job for r in conn.execute(sa.union_all(*latest)) if r.outcome == "failed") if jobs else []
    running = conn.execute(sa.select(RUNS.c.job, RUNS.c.lease_until).where(RUNS.c.outcome == "running")).all()
    stale = sorted({r.job for r in running if r.lease_until is None or as_utc(r.lease_until) < wall_now})
    return {"failed": failed, "stale": stale}
