"""GET /v1/exports/compliance: the compliance summary as JSON, CSV (zip), Excel or PDF."""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from pv_service.auth.principal import Principal, SessionDep, require
from pv_service.common.errors import InvalidInput
from pv_service.common.types import ApiDate
from pv_service.common.vocab import Role
from pv_service.core.deps import Now
from pv_service.exports import render_csv, render_json, render_pdf, render_xlsx
from pv_service.exports.service import compliance_summary, export_filename, products_for
from pv_service.exports.summary import TABLES, PeriodError, resolve_period
from pv_service.jobs.definitions import current_rules

router = APIRouter(prefix="/v1/exports", tags=["exports"])
# Safety officers export any product; an MAH only its own; clinics and admins none.
Exporter = Annotated[Principal, Depends(require(Role.safety_officer, Role.mah))]


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"
    pdf = "pdf"


CSV_TABLES = (render_csv.ABOUT, *TABLES)
_CONTENT = {
    "application/json": {}, "application/zip": {}, "text/csv": {}, "application/pdf": {},
    render_xlsx.MEDIA_TYPE: {},
}


def rendered(summary, fmt: ExportFormat, table: str | None) -> tuple[bytes, str, str]:
    """(body, media type, file extension)."""
    if fmt == ExportFormat.json:
        return render_json.render_json(summary), render_json.MEDIA_TYPE, "json"
    if fmt == ExportFormat.csv:
        if table is not None:
            return render_csv.render_csv_table(summary, table), render_csv.CSV_MEDIA_TYPE, f"{table}.csv"
        return render_csv.render_csv_zip(summary), render_csv.ZIP_MEDIA_TYPE, "zip"
    if fmt == ExportFormat.xlsx:
        return render_xlsx.render_xlsx(summary), render_xlsx.MEDIA_TYPE, "xlsx"
    return render_pdf.render_pdf(summary), render_pdf.MEDIA_TYPE, "pdf"


@router.get("/compliance", response_class=Response, responses={200: {"content": _CONTENT}})
def compliance_export(
    session: SessionDep, principal: Exporter, now: Now,
    product: Annotated[str | None, Query(description="Product code; omitted: every product you may export")] = None,
    as_of: Annotated[ApiDate | None, Query(description="Evaluate as of this day (default today)")] = None,
    start: Annotated[ApiDate | None, Query(description="Interval start (default: 12 months ending at end)")] = None,
    end: Annotated[ApiDate | None, Query(description="Interval end (default: the as-of date)")] = None,
    format: Annotated[ExportFormat, Query(description="json, csv (a zip of tables), xlsx or pdf")] = ExportFormat.json,
    table: Annotated[str | None, Query(description="With format=csv: just this table, as text/csv. "
                                                   + ", ".join(CSV_TABLES))] = None,
) -> Response:
    """Follow-up, safety and obligation figures of a product (or all of an MAH's products)."""
    today = now.date()
    as_of = as_of or today
    if as_of > today:
        raise InvalidInput.one(("query", "as_of"), f"is in the future (today is {today})")
    try:
        start, end = resolve_period(as_of, start, end)
    except PeriodError as exc:
        raise InvalidInput.one(("query", exc.field), str(exc)) from None
    if table is not None and (format != ExportFormat.csv or table not in CSV_TABLES):
        raise InvalidInput.one(("query", "table"), "needs format=csv and one of " + ", ".join(CSV_TABLES))
    products = products_for(session, principal.role, principal.organization_id, product)
    summary = compliance_summary(session, products, current_rules(), as_of, start, end)
    body, media_type, ext = rendered(summary, format, table)
    filename = export_filename(session, products, principal.role, principal.organization_id, as_of, ext)
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
