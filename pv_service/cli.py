"""The `pv-service` command line (also `python -m pv_service`)."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pv_service.core.clock import utc_now

app = typer.Typer(help="pv-service: pharmacovigilance and long-term follow-up of cell therapies.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


def _mount_subcommands() -> None:
    from pv_service.signals.cli import app as signals_app

    app.add_typer(signals_app, name="signals")
    from pv_service.exports.cli import app as export_app

    app.add_typer(export_app, name="export")
    from pv_service.meddra.cli import app as meddra_app

    app.add_typer(meddra_app, name="meddra")
    from pv_service.e2b.cli import app as e2b_app

    app.add_typer(e2b_app, name="e2b")


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(code)


def _settings():
    """The settings, or a message naming what is wrong with them (not a traceback)."""
    from pydantic import ValidationError

    from pv_service.core.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        _fail("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()))


def _refuse_in_production(command: str) -> None:
    # The demo creates users with a published password: never on a production database. Settings
    # that fail in production (no keys) still mean production: say why the demo stops, not which key is missing.
    from pydantic import ValidationError

    from pv_service.core.settings import get_settings

    try:
        environment = get_settings().environment
    except ValidationError:
        environment = _settings().environment if os.environ.get("PV_ENVIRONMENT") else "production"
    if environment == "production":
        _fail(f"`{command}` creates demo users with a published password and is refused when PV_ENVIRONMENT is "
              "production (the default); set PV_ENVIRONMENT=development to run it (`make demo` does)")


def _engine():
    from pv_service.core.db import get_engine

    _settings()
    return get_engine()


def _check_migrated(engine) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from pv_service.core.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        _fail(f"database is at revision {current or 'none'}, code expects {head}: run `pv-service migrate` first")


def _check_rules() -> None:
    from pv_service.jobs.definitions import current_rules
    from pv_service.rules import RulesError

    try:
        current_rules()
    except RulesError as exc:
        _fail(str(exc))


WORKER_HEALTHCHECK_SECONDS = 20


def _serve(port: int | None, host: str | None) -> None:
    import uvicorn


    _check_rules()

    settings = _settings()
    # uvicorn kills a worker that does not answer its ping within timeout_worker_healthcheck
    # (default 5 s); a spawned worker re-imports this module before it can answer, which took
    # 5.3 s on a busy 2-core machine, so workers were killed in a loop. The same timeout bounds
    # how long the supervisor may take to notice a worker that died in the middle of a ping.
    uvicorn.run("pv_service.app:create_app", factory=True, host=host or settings.host,
                port=port or settings.port, workers=settings.workers, log_level="info", access_log=settings.access_log,
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS)


PortOpt = Annotated[Optional[int], typer.Option("--port", help="Port (default: PV_PORT or 8000)")]
HostOpt = Annotated[Optional[str], typer.Option("--host", help="Interface (default: PV_HOST or 127.0.0.1)")]


@app.command()
def migrate() -> None:
    """Upgrade the database to the latest schema (safe to run repeatedly), as the tables' owner.

    With PV_DATABASE_APP_ROLE set, that role is then granted what the service needs (see `db grant`).
    """
    from pv_service.core.migrate import upgrade

    role = _settings().database_app_role
    try:
        upgrade(_engine(), app_role=role)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo("database is at the latest revision" + (f"; role {role} granted the service's privileges" if role else ""))


db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("grant")
def db_grant(role: Annotated[str, typer.Argument(help="The role the api and scheduler connect as")]) -> None:
    """Grant ROLE read/write on the service's tables, but only SELECT and INSERT on the audit trail (PostgreSQL)."""
    from pv_service.core.grants import grant

    engine = _engine()
    _check_migrated(engine)
    try:
        with engine.begin() as conn:
            grant(conn, role)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"role {role}: SELECT, INSERT, UPDATE, DELETE on the service's tables; SELECT, INSERT on audit_record")


@app.command()
def serve(port: PortOpt = None, host: HostOpt = None) -> None:
    """Serve the HTTP API (the database must be migrated)."""
    _check_migrated(_engine())
    _serve(port, host)


@app.command()
def demo(
    port: PortOpt = None, host: HostOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic cohort")] = 20261123,
    patients: Annotated[int, typer.Option(help="Number of synthetic patients")] = 3000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Seed only")] = False,
) -> None:
    """Migrate, seed the real product registry and a synthetic cohort, then serve (not in production)."""
    _refuse_in_production("demo")
    from pv_service.core.db import session_scope
    from pv_service.core.migrate import upgrade
    from pv_service.demo.load import load_demo
    from pv_service.products.seed import seed_products

    _check_rules()
    engine = _engine()
    upgrade(engine)
    with session_scope(engine) as session:
        now = utc_now()
        seed_products(session, now)
        summary = load_demo(session, now, seed=seed, n_patients=patients)
        session.commit()
    shown = ("products", "patients", "treatments", "cases", "serious_cases", "case_versions", "obligations",
             "meddra_version")
    typer.echo("demo data: " + ", ".join(f"{k}={summary[k]}" for k in shown if k in summary))
    _run_all_jobs(engine)
    typer.echo("users: demo-admin, demo-safety, demo-clinic, demo-mah (password: demo-password)")
    if not no_serve:
        import os

        from pv_service.core.settings import get_settings

        os.environ["PV_SCHEDULER_IN_PROCESS"] = "true"  # the single-process demo runs its scheduler in-process
        get_settings.cache_clear()
        _serve(port, host)


def _run_all_jobs(engine, as_of=None) -> None:
    """One manual run of every job, so the demo's queue is filled before the first scheduled tick."""
    from pv_service.jobs.definitions import JOBS
    from pv_service.jobs.runner import run_job

    for spec in JOBS.values():
        run = run_job(engine, spec, utc_now, trigger="manual", as_of=as_of)
        typer.echo(f"job {spec.name}: {run.outcome} {run.counts if run.outcome == 'succeeded' else run.error}")


@app.command()
def scheduler() -> None:
    """Run the job scheduler in this process (one per deployment is enough; more are harmless)."""
    from pv_service.jobs.definitions import JOBS
    from pv_service.jobs.scheduler import build_scheduler

    engine = _engine()
    _check_migrated(engine)
    _check_rules()
    typer.echo("scheduler running: " + ", ".join(f"{s.name} {s.cron}" for s in JOBS.values()))
    build_scheduler(engine, list(JOBS.values()), blocking=True).start()


@app.command("run-job")
def run_job_command(
    name: Annotated[str, typer.Argument(help="followup-compliance, confirmatory-deadlines, reporting-clocks or signal-detection")],
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Evaluate as at the end of this day (YYYY-MM-DD)")] = None,
) -> None:
    """Run one job now and print its outcome (exit 1 if it failed)."""
    from pv_service.common.types import parse_date
    from pv_service.jobs.definitions import JOBS
    from pv_service.jobs.runner import run_job

    spec = JOBS.get(name)
    if spec is None:
        _fail(f"no job {name!r}; jobs: {', '.join(JOBS)}")
    day = None
    if as_of is not None:
        try:
            day = parse_date(as_of)
        except ValueError as exc:
            _fail(f"--as-of {as_of!r} {exc}")
    _check_rules()
    engine = _engine()
    _check_migrated(engine)
    run = run_job(engine, spec, utc_now, trigger="manual", as_of=day)
    typer.echo(f"{spec.name} run {run.id} as of {run.as_of}: {run.outcome}")
    typer.echo(run.error if run.error else ", ".join(f"{k}={v}" for k, v in run.counts.items()))
    if run.outcome != "succeeded":
        raise typer.Exit(1)


audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    head: Annotated[Optional[Path], typer.Option(help="An exported head file to check against "
                                                      "(default: the one in PV_AUDIT_HEAD_DIR)")] = None,
) -> None:
    """Recompute the keyed chain and check it reaches the exported head; exit 1 if it is broken."""
    from pv_service.audit import head as audit_head
    from pv_service.audit.chain import verify
    from pv_service.core.db import session_scope

    engine = _engine()
    _check_migrated(engine)
    try:
        exported = (audit_head.parse(head.read_text()) if head is not None
                    else audit_head.read(_settings().audit_head_dir))
    except (OSError, UnicodeDecodeError, audit_head.HeadError) as exc:
        _fail(f"audit head: {exc}", 1)
    with session_scope(engine) as session:
        result = verify(session, exported)
    against = f", up to the exported head ({exported.seq} records at {exported.at})" if exported else \
        " (no exported head to check against: the last records' removal would go unseen)"
    if result.ok:
        typer.echo(f"audit chain intact: {result.checked} records{against}")
        return
    typer.secho(f"audit chain BROKEN at record {result.first_bad_seq}: {result.reason}", err=True, fg="red")
    raise typer.Exit(1)


@audit_app.command("head")
def audit_head_export(
    out: Annotated[Optional[Path], typer.Option(help="Directory to write audit-head.json to "
                                                     "(default: PV_AUDIT_HEAD_DIR)")] = None,
) -> None:
    """Print the signed head of the trail (count + last hash) and write it outside the database."""
    from pv_service.audit import head as audit_head
    from pv_service.core.db import session_scope

    engine = _engine()
    _check_migrated(engine)
    with session_scope(engine) as session:
        exported = audit_head.export(session, utc_now(), out or _settings().audit_head_dir)
    typer.echo(exported.line())


@app.command("create-org")
def create_org(
    name: Annotated[str, typer.Option(help="Organization name")],
    kind: Annotated[str, typer.Option(help="clinic, mah, regulator or operator")],
    country: Annotated[Optional[str], typer.Option(help="ISO 3166-1 alpha-2")] = None,
) -> None:
    """Create an organization."""
    from pydantic import ValidationError

    from pv_service.auth.schemas import OrganizationCreate
    from pv_service.auth.service import create_organization
    from pv_service.common.errors import DomainError
    from pv_service.core.db import session_scope

    try:
        data = OrganizationCreate(name=name, kind=kind, country=country)
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    _check_migrated(_engine())
    with session_scope() as session:
        try:
            org = create_organization(session, data, utc_now())
        except DomainError as exc:
            _fail(exc.message)
        session.commit()
        typer.echo(f"organization {org.id}: {org.name} ({org.kind})")


@app.command("create-user")
def create_user(
    username: Annotated[str, typer.Option(help="Login name")],
    role: Annotated[str, typer.Option(help="clinic, safety_officer, mah or admin")],
    organization: Annotated[Optional[str], typer.Option(help="Organization name or id")] = None,
    password: Annotated[Optional[str], typer.Option(help="Password (prompted when omitted)")] = None,
    service_account: Annotated[bool, typer.Option("--service-account",
                                                  help="No password: a clinic system that uses API keys an admin issues")] = False,
) -> None:
    """Create a user (the way to create the first admin)."""
    from pydantic import ValidationError
    from sqlmodel import select

    from pv_service.auth.models import Organization
    from pv_service.auth.schemas import UserCreate
    from pv_service.auth.service import create_user as create
    from pv_service.common.errors import DomainError
    from pv_service.core.db import session_scope

    _check_migrated(_engine())
    if service_account and password is not None:
        _fail("a service account has no password: give --service-account or --password, not both")
    if password is None and not service_account:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with session_scope() as session:
        org_id = None
        if organization is not None:
            org = (session.get(Organization, int(organization)) if organization.isdigit()
                   else session.exec(select(Organization).where(Organization.name == organization)).first())
            if org is None:
                _fail(f"no organization {organization!r}")
            org_id = org.id
        try:
            data = UserCreate(username=username, password=password, role=role, organization_id=org_id)
            user = create(session, data, utc_now())
        except ValidationError as exc:
            _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        except DomainError as exc:
            _fail(exc.message)
        session.commit()
        typer.echo(f"user {user.id}: {user.username} ({user.role})")


_mount_subcommands()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from pydantic import ValidationError

    try:
        app()
    except ValidationError as exc:  # settings read before _settings() could word them: still no traceback
        typer.secho("error: " + "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()), err=True, fg="red")
        raise SystemExit(2) from None
    except Exception as exc:
        # a command that reached the rules without _check_rules: still no traceback. Looked up, not
        # imported: importing the rules loads the signal engine, 1.4 s of every command's start
        rules = sys.modules.get("pv_service.rules")
        if rules is None or not isinstance(exc, rules.RulesError):
            raise
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise SystemExit(2) from None
