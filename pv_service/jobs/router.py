from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from pydantic import BaseModel, ConfigDict
from sqlmodel import select

from pv_service.auth.principal import AdminPrincipal, Principal, SessionDep, require
from pv_service.common.errors import Conflict, NotFound
from pv_service.common.finite import JSONObject
from pv_service.common.lookup import get_or_404
from pv_service.common.pagination import Page, PageDep, paginate
from pv_service.common.types import ApiDate, DbId
from pv_service.common.vocab import Role
from pv_service.core.deps import clock_of
from pv_service.jobs.definitions import JOBS
from pv_service.jobs.models import JobRun
from pv_service.jobs.runner import claim_run, execute

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
Operator = Annotated[Principal, Depends(require(Role.admin, Role.safety_officer))]


class JobRunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    job: str
    tick: dt.datetime
    trigger: str
    as_of: dt.date
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: str
    attempt: int
    lease_until: dt.datetime | None
    counts: JSONObject
    error: str | None


class JobPublic(BaseModel):
    name: str
    description: str
    schedule: dict[str, Any]
    period: str


@router.get("", response_model=list[JobPublic])
def list_jobs(_: Operator):
    return [JobPublic(name=s.name, description=s.description, schedule=s.cron, period=s.period) for s in JOBS.values()]


# unknown names are a 422 listing the known ones (they answered an empty page)
JobName = Literal[tuple(JOBS)]
RunOutcome = Literal["running", "succeeded", "failed"]


@router.get("/runs", response_model=Page[JobRunPublic])
def list_runs(session: SessionDep, _: Operator, page: PageDep, job: JobName | None = None,
              outcome: Annotated[RunOutcome | None, Query(examples=["succeeded", "failed", "running"])] = None):
    stmt = select(JobRun)
    if job is not None:
        stmt = stmt.where(JobRun.job == job)
    if outcome is not None:
        stmt = stmt.where(JobRun.outcome == outcome)
    items, cursor = paginate(session, stmt, JobRun.id, page)
    return Page(items=items, next_cursor=cursor)


@router.get("/runs/{run_id}", response_model=JobRunPublic)
def get_run(session: SessionDep, _: Operator, run_id: DbId):
    return get_or_404(session, JobRun, run_id, "no such run")


@router.post("/{name}/run", response_model=JobRunPublic, status_code=202)
def run_now(session: SessionDep, _: AdminPrincipal, name: str, request: Request, tasks: BackgroundTasks,
            as_of: Annotated[ApiDate | None, Query(description="Evaluate as at the end of this day")] = None):
    """Start a manual run; it works after the response (poll GET /v1/jobs/runs/{id})."""
    spec = JOBS.get(name)
    if spec is None:
        raise NotFound(f"no job {name!r}; jobs: {', '.join(JOBS)}")
    engine = session.get_bind()
    clock = clock_of(request)
    claimed = claim_run(engine, spec, clock, trigger="manual", as_of=as_of)
    if claimed is None:
        raise Conflict("a run of this job started at the same instant")
    tasks.add_task(execute, engine, spec, claimed.run_id, claimed.now, clock, claimed.attempt)
    return session.get(JobRun, claimed.run_id)
