"""`pv-service meddra ...`: load the operator's MedDRA distribution (and recode stored reactions)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="The MedDRA dictionary, loaded from your own distribution.", no_args_is_help=True,
                  pretty_exceptions_enable=False)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg="red")
    return typer.Exit(code=2)


@app.command("load")
def load_command(
    directory: Annotated[Path, typer.Argument(help="The distribution: the folder holding MedAscii/ (or MedAscii itself)")],
    version: Annotated[Optional[str], typer.Option("--version", help="The release, e.g. 27.1 (must agree with "
                                                                     "meddra_release.asc when both are given)")] = None,
) -> None:
    """Load a MedDRA ASCII distribution as one version; loading the same one again changes nothing."""
    from sqlalchemy.exc import IntegrityError

    from pv_service.cli import _check_migrated, _engine
    from pv_service.core.clock import utc_now
    from pv_service.meddra.ascii import MeddraFormatError
    from pv_service.meddra.loader import VersionConflict, load

    engine = _engine()
    _check_migrated(engine)
    try:
        result = load(engine, directory, utc_now(), version)
    except MeddraFormatError as exc:
        raise _fail(f"refused, nothing loaded: {exc}") from None
    except VersionConflict as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:  # unreadable file or folder
        raise _fail(f"refused, nothing loaded: {exc.filename}: {exc.strerror}") from None
    except IntegrityError:
        raise _fail("another load of this version ran at the same time; run again to see which one stayed") from None
    counts = ", ".join(f"{k}={v}" for k, v in result.counts.items())
    if result.loaded:
        typer.echo(f"MedDRA {result.version} loaded: {counts}")
    else:
        typer.echo(f"MedDRA {result.version} was loaded already with the same content: nothing changed")


@app.command("recode")
def recode_command(
    to: Annotated[str, typer.Option("--to", help="The loaded version to recode stored reactions to, e.g. 27.1")],
) -> None:
    """Recode stored reactions to another loaded version: PTs moved, LLTs no longer current, SOCs changed.

    Keeps the coding as reported; each reaction moved is an audit record; running it again changes nothing.
    """
    from pv_service.cli import _check_migrated, _engine
    from pv_service.core.clock import utc_now
    from pv_service.core.db import session_scope
    from pv_service.meddra.recode import recode

    engine = _engine()
    _check_migrated(engine)
    with session_scope(engine) as session:
        try:
            report = recode(session, to, utc_now())
        except LookupError as exc:
            raise _fail(str(exc.args[0])) from None
        session.commit()
    for line in report.lines():
        typer.echo(line)
