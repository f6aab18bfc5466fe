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
