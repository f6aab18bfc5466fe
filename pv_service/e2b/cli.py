"""`pv-service e2b ...`: the operator's ICH schema set, and E2B(R3) files in and out."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="ICH E2B(R3) interchange (XML ICSRs and acknowledgements).", no_args_is_help=True,
                  pretty_exceptions_enable=False)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg="red")
    return typer.Exit(code=code)


@app.command("install-schemas")
def install_schemas_command(
    source: Annotated[Path, typer.Argument(help="ICH's schema set: the folder holding multicacheschemas/ and "
                                                "coreschemas/ (or a folder above it), or ICH's zip")],
) -> None:
    """Copy the ICH E2B(R3) schema set into PV_E2B_SCHEMA_DIR once it compiles (a bad set changes nothing)."""
    from pv_service.cli import _settings
    from pv_service.e2b.schema_set import SchemaSetError, install

    target = _settings().e2b_schema_dir
    try:
        install(source, target)
    except SchemaSetError as exc:
        raise _fail(f"refused, nothing changed: {exc}") from None
    typer.echo(f"ICH E2B(R3) schema set installed in {target} (batch and acknowledgement schemas compile)")


def _principal(engine, username: str):
    import sqlalchemy as sa

    from pv_service.auth.models import Organization, User
    from pv_service.auth.principal import Principal
    from pv_service.common.vocab import Role

    with engine.connect() as conn:
        row = conn.execute(sa.select(User.id, User.username, User.role, User.organization_id, User.is_active,
                                     Organization.country).outerjoin(Organization, Organization.id == User.organization_id)
                           .where(User.username == username)).first()
    if row is None or not row.is_active:
        raise _fail(f"no active user {username!r}")
    if row.role not in (Role.clinic, Role.mah):
        raise _fail(f"{username!r} is a {row.role} user: only clinic and MAH users import E2B (the sender is "
                    "their organization)")
    return Principal(row.id, row.username, Role(row.role), row.organization_id, row.country)


@app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="E2B(R3) batch files (MCCI_IN200100UV01)")],
    user: Annotated[str, typer.Option("--user", help="The clinic or MAH user the batches come from")],
    ack_out: Annotated[Path | None, typer.Option("--ack-out", help="Write each file's ICH ACK here as "
                                                                   "<file name>.ack.xml")] = None,
) -> None:
    """Import E2B(R3) batch files as USER's organization; exit 1 when any message (or file) is refused."""
    from pv_service.cli import _check_migrated, _engine, _settings
    from pv_service.core.clock import utc_now
    from pv_service.e2b import service
    from pv_service.e2b.reader import Refused
    from pv_service.e2b.schema_set import SchemaSetError

    settings = _settings()
    engine = _engine()
    _check_migrated(engine)
    principal = _principal(engine, user)
    if ack_out is not None:
        ack_out.mkdir(parents=True, exist_ok=True)
    refused = False
    for f in files:
        try:
            # Streamed: a file of any size is read in constant memory (PV_E2B_MAX_BYTES bounds request bodies).
            with f.open("rb") as stream:
                received = service.receive(engine, settings, principal, stream, utc_now())
        except SchemaSetError as exc:
            raise _fail(str(exc)) from None
        except OSError as exc:
            typer.secho(f"{f}: cannot read: {exc.strerror}", err=True, fg="red")
            refused = True
            continue
        except Refused as exc:
            typer.secho(f"{f}: refused, nothing stored: {exc.reason}", err=True, fg="red")
            refused = True
            continue
        r = received.result
        counts = {k: sum(m.outcome == k for m in r.messages) for k in ("created", "unchanged", "rejected")}
        typer.echo(f"{f}: {r.code}; {counts['created']} stored, {counts['unchanged']} unchanged, "
                   f"{counts['rejected']} refused")
        for m in r.messages:
            for p in m.problems:
                typer.echo(f"  message {m.message_id} ({m.safety_report_id}): {p.text()}")
        for p in r.problems:
            typer.echo(f"  batch: {p.text()}")
        refused = refused or r.code != "AA"
        if ack_out is not None:
            (ack_out / f"{f.name}.ack.xml").write_bytes(received.ack_xml)
    if refused:
        raise typer.Exit(code=1)
