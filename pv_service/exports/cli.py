"""``pv-service export compliance --product CODE --as-of DATE --format pdf -o FILE``.

Exit codes: 0 written; 2 unusable arguments (unknown product, bad date or period,
unknown format, unwritable output path, database not migrated), with a one-line
message on stderr.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Exports for marketing authorization holders and regulators.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
FORMATS = ("json", "csv", "xlsx", "pdf")
_SUFFIX_FORMAT = {".json": "json", ".zip": "csv", ".csv": "csv", ".xlsx": "xlsx", ".pdf": "pdf"}


@app.callback()
def _group() -> None:
    """Compliance summaries as JSON, CSV (zip), Excel or PDF."""


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg="red")
    return typer.Exit(code=2)


def _day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


def check_writable(path: Path) -> None:
    """Refuse before any work is done: a directory, a missing or read-only parent directory."""
    if path.is_dir():
        raise _fail(f"{path} is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise _fail(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise _fail(f"cannot write {path}: permission denied")


@app.command("compliance")
def compliance(
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write")],
    product: Annotated[Optional[str], typer.Option("--product", help="Product code (default: every product)")] = None,
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", help="Evaluate as of this day, YYYY-MM-DD (default today, UTC)")] = None,
    start: Annotated[Optional[str], typer.Option(
        "--start", help="Interval start (default: 12 months ending at --end)")] = None,
    end: Annotated[Optional[str], typer.Option("--end", help="Interval end (default: the as-of date)")] = None,
    format: Annotated[Optional[str], typer.Option(
        "--format", help="json, csv (zip), xlsx or pdf (default: from the file name)")] = None,
) -> None:
    """Write the compliance summary of a product (follow-up, safety, obligations)."""
    from pv_service.core.clock import utc_now

    check_writable(output)
    fmt = format or _SUFFIX_FORMAT.get(output.suffix.lower())
    if fmt not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)}" if format else
                    f"cannot tell the format from {output.name!r}; give --format ({', '.join(FORMATS)})")
    day = _day(as_of, "--as-of") or utc_now().date()
    first, last = _day(start, "--start"), _day(end, "--end")
    from pv_service.exports.summary import PeriodError, resolve_period

    try:
        first, last = resolve_period(day, first, last)
    except PeriodError as exc:
        raise _fail(str(exc)) from None

    from pv_service.cli import _check_migrated, _check_rules, _engine
    from pv_service.common.errors import NotFound
    from pv_service.core.db import session_scope
    from pv_service.exports.router import ExportFormat, rendered
    from pv_service.exports.service import compliance_summary, products_for
    from pv_service.jobs.definitions import current_rules

    engine = _engine()
    _check_migrated(engine)
    _check_rules()
    with session_scope(engine) as session:
        try:
            products = products_for(session, None, None, product)
        except NotFound:
            import sqlalchemy as sa

            from pv_service.products.models import Product

            if product is None:
                raise _fail("there are no products in the database") from None
            codes = session.execute(sa.select(Product.code).order_by(Product.code)).scalars().all()
            raise _fail(f"no product {product!r}; products: {', '.join(codes) or 'none'}") from None
        summary = compliance_summary(session, products, current_rules(), day, first, last)
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # font subsetting chatter when the CLI logs at INFO
    body, _, _ = rendered(summary, ExportFormat(fmt), None)
    try:
        output.write_bytes(body)
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output} ({fmt}, {len(body):,} bytes): {', '.join(summary.product_codes)} as of {day} "
               f"for {first} to {last}")
