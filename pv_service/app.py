"""The FastAPI application: routers, error mapping, limits."""
from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pv_service.alerting.router import router as alerts_router
from pv_service.analytics.router import router as analytics_router
from pv_service.audit.router import router as audit_router
from pv_service.auth.epoch_reads import EpochReads
from pv_service.auth.principal import PrincipalCache
from pv_service.auth.router import router as auth_router
from pv_service.cases.intake_group import GroupCommit
from pv_service.cases.router import router as cases_router
from pv_service.common.body_limit import BodySizeLimit
from pv_service.common.errors import DomainError, InvalidInput
from pv_service.common.redact import install_access_log_redaction, without_inputs
from pv_service.common.strict_input import StrictInput
from pv_service.common.security_headers import SecurityHeaders
from pv_service.core.clock import Clock, utc_now
from pv_service.core.db import get_engine
from pv_service.core.per_loop import PerLoop
from pv_service.core.pg import Pools
from pv_service.core.settings import get_settings
from pv_service.duplicates.router import router as duplicates_router
from pv_service.e2b.router import router as e2b_router
from pv_service.exports.router import router as exports_router
from pv_service.fhir.router import router as fhir_router
from pv_service.followup.compliance_router import router as compliance_router
from pv_service.followup.router import router as followup_router
from pv_service.jobs.router import router as jobs_router
from pv_service.meddra.router import router as meddra_router
from pv_service.patients.router import router as patients_router
from pv_service.products.router import router as products_router
from pv_service.rsi.router import router as rsi_router
from pv_service.signals.router import router as signals_router
from pv_service.web.api_docs import router as api_docs_router
from pv_service.web.admin import router as web_admin_router
from pv_service.web.labels import router as web_labels_router
from pv_service.web.duplicates import router as web_duplicates_router
from pv_service.web.router import router as web_router

log = logging.getLogger("pv_service")
RETRY_AFTER_SECONDS = 2  # a restart of PostgreSQL takes about a second


def _tune_garbage_collector() -> None:
    """Requests allocate many short-lived objects; the cycle collector need not chase them so often.

    Everything imported at start-up (tens of thousands of objects from the web, database and
    statistics libraries) is moved out of the collector's way, and young collections run
    every 20,000 allocations instead of 700: batch intake took about 25% less CPU per
    report (docs/benchmarks.md). Garbage is still collected; reference counting frees most.
    Once per process: what later applications (tests build many) leave behind is not frozen.
    """
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


@asynccontextmanager
async def lifespan(app: FastAPI):
    """The single-process demo runs the scheduler in-process; production runs `pv-service scheduler`."""
    from pv_service.jobs.definitions import current_rules

    current_rules()  # invalid rules stop the service here, naming file and line
    settings = get_settings()
    engine = app.state.engine
    scheduler = None
    if settings.scheduler_in_process:
        from pv_service.jobs.definitions import JOBS
        from pv_service.jobs.scheduler import build_scheduler

        scheduler = build_scheduler(engine, list(JOBS.values()))
        scheduler.start()
        log.info("in-process scheduler started: %s", ", ".join(JOBS))
    _tune_garbage_collector()
    try:
        if engine.dialect.name == "postgresql":
            async with app.state.pg_pools.serving(engine, settings.pg_pool_size):
                yield
        else:
            yield
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


def create_app(clock: Clock | None = None, engine: Engine | None = None) -> FastAPI:
    """`engine`: the database (default: PV_DATABASE_URL); `clock`: "now" for every request."""
    settings = get_settings()
    app = FastAPI(
        lifespan=lifespan,
        title="pv-service",
        version="0.1.0",
        summary="Post-market pharmacovigilance and long-term follow-up of cell therapies",
        docs_url=None, redoc_url=None,  # served from the service itself by api_docs_router (no CDN)
    )
    if clock is not None:
        app.state.clock = clock
    app.state.engine = engine or get_engine()
    app.state.pg_pools = Pools()
    app.state.principals = PrincipalCache(settings.principal_cache_seconds)
    # Shared by the requests a worker serves at the same time (each per event loop):
    app.state.epoch_reads = PerLoop(EpochReads)  # reads of the revocation epoch
    app.state.report_groups = PerLoop(GroupCommit)  # single reports stored together

    install_access_log_redaction()

    # FastAPI's default echoes each invalid value ("input"), which may be a patient identifier.
    @app.exception_handler(RequestValidationError)
    async def request_validation_error(_: Request, exc: RequestValidationError):
        return JSONResponse(status_code=422, content={"detail": jsonable_encoder(without_inputs(exc.errors()))})

    # No route matched (404, 405): under /fhir an OperationOutcome, as every FHIR route answers
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if request.url.path == "/fhir" or request.url.path.startswith("/fhir/"):
            from pv_service.fhir.router import unmatched_response

            return unmatched_response(request, exc.status_code, str(exc.detail), exc.headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(InvalidInput)
    async def invalid_input(_: Request, exc: InvalidInput):
        return JSONResponse(status_code=422, content={"detail": [p.as_dict() for p in exc.problems]})

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError):
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.message})

    # SQLAlchemy wraps driver errors; the asynchronous PostgreSQL path raises psycopg's own.
    @app.exception_handler(IntegrityError)
    @app.exception_handler(psycopg.IntegrityError)
    async def integrity_error(_: Request, exc: Exception):
        log.warning("integrity error: %s", getattr(exc, "orig", exc))
        return JSONResponse(status_code=409, content={"detail": "conflicts with data stored concurrently; retry"})

    # A value the database cannot hold or compare (a NUL byte in text, found by fuzzing).
    @app.exception_handler(DataError)
    @app.exception_handler(psycopg.DataError)
    async def data_error(_: Request, exc: Exception):
        log.info("value refused by the database: %s", getattr(exc, "orig", exc))
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": ["request"], "msg": f"a value cannot be stored or searched: {str(getattr(exc, 'orig', exc)).strip()}",
             "type": "value_error"}]})

    # The database is away (restarting, unreachable, a connection cut): 503 and when to retry.
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg.InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def operational_error(_: Request, exc: Exception):
        log.error("database unavailable: %s", getattr(exc, "orig", exc))
        return JSONResponse(status_code=503, content={"detail": "database unavailable; retry later"},
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.get("/health", tags=["ops"])
    def health(request: Request) -> dict:
        """`degraded` while a job's latest run failed or a run lost its scheduler (503 if the database is away).

        `meddra` says which dictionary versions are loaded; with none, intake takes codes and names as sent.
        `e2b` says whether the ICH E2B(R3) schema set is loaded; without it E2B import refuses to run.
        """
        from pv_service.e2b.schema_set import e2b_health
        from pv_service.jobs.definitions import JOBS
        from pv_service.jobs.health import job_health
        from pv_service.meddra.queries import versions

        with request.app.state.engine.connect() as conn:
            jobs = job_health(conn, list(JOBS), utc_now())
            loaded = [r.version for r in versions(conn)]
        meddra = {"loaded": bool(loaded), "versions": loaded, "newest": loaded[0] if loaded else None,
                  "coding": "codes checked against the loaded dictionary" if loaded
                  else "no dictionary loaded: codes and names stored as sent"}
        return {"status": "degraded" if jobs["failed"] or jobs["stale"] else "ok", "jobs": jobs, "meddra": meddra,
                "e2b": e2b_health(get_settings().e2b_schema_dir)}

    # Routes are matched in order, each tried in turn: the intake routes, the busiest, go first.
    for router in (cases_router, followup_router, auth_router, products_router, patients_router, signals_router,
                   alerts_router, audit_router, jobs_router, compliance_router, web_router, web_admin_router,
                   exports_router, meddra_router, analytics_router, e2b_router, fhir_router):
        app.include_router(router)
    app.include_router(rsi_router)  # reference safety information
    app.include_router(web_labels_router)
    app.include_router(duplicates_router)
    app.include_router(web_duplicates_router)
    from pv_service.caseseries.router import router as case_series_router
    from pv_service.signal_records.router import router as signal_records_router

    app.include_router(case_series_router)
    app.include_router(signal_records_router)
    app.include_router(api_docs_router)  # /docs and /redoc with their assets, no CDN
    app.add_middleware(StrictInput)  # inside the size limit: it reads bodies already bounded
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app
