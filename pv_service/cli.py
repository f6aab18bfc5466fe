"""The `pv-service` command line (also `python -m pv_service`)."""
from __future__ import annotations

import logging
from typing import Annotated, Optional

import typer

from pv_service.core.clock import utc_now

app = typer.Typer(help="pv-service: pharmacovigilance and long-term follow-up of cell therapies.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


def _mount_subcommands() -> None:
    from pv_service.signals.cli import app as signals_app

    app.add_typer(signals_app, name="signals")


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(code)


def _engine():
    from pv_service.core.db import get_engine
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


def _serve(port: int | None, host: str | None) -> None:
    import uvicorn

    from pv_service.core.settings import get_settings

    settings = get_settings()
    uvicorn.run("pv_service.app:create_app", factory=True, host=host or settings.host,
                port=port or settings.port, workers=settings.workers, log_level="info")


PortOpt = Annotated[Optional[int], typer.Option("--port", help="Port (default: PV_PORT or 8000)")]
HostOpt = Annotated[Optional[str], typer.Option("--host", help="Interface (default: PV_HOST or 127.0.0.1)")]


@app.command()
def migrate() -> None:
    """Upgrade the database to the latest schema (safe to run repeatedly)."""
    from pv_service.core.migrate import upgrade

    upgrade(_engine())
    typer.echo("database is at the latest revision")


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
    """Migrate, seed the real product registry and a synthetic cohort, then serve."""
    from pv_service.core.db import session_scope
    from pv_service.core.migrate import upgrade
    from pv_service.demo.load import load_demo
    from pv_service.products.seed import seed_products

    engine = _engine()
    upgrade(engine)
    with session_scope(engine) as session:
        now = utc_now()
        seed_products(session, now)
        summary = load_demo(session, now, seed=seed, n_patients=patients)
        session.commit()
    shown = ("products", "patients", "treatments", "cases", "serious_cases", "case_versions", "obligations")
    typer.echo("demo data: " + ", ".join(f"{k}={summary[k]}" for k in shown if k in summary))
    typer.echo("users: demo-admin, demo-safety, demo-clinic, demo-mah (password: demo-password)")
    if not no_serve:
        _serve(port, host)


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
    if password is None:
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
    app()
