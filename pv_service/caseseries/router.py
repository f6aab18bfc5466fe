"""GET /v1/alerts/{id}/case-series: the line listing of an alert's cases (JSON pages, CSV, Excel)."""
from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from pv_service.alerting import service as alerting
from pv_service.auth.principal import Principal, SessionDep, require
from pv_service.caseseries import filters
from pv_service.caseseries.service import exported, records, series_view
from pv_service.common.pagination import decode_offset, encode_offset
from pv_service.common.types import DbId
from pv_service.common.vocab import Role
from pv_service.core.deps import Now

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
# Case series show case content (narratives): safety officers only.
SafetyOfficer = Annotated[Principal, Depends(require(Role.safety_officer))]
SortColumn = StrEnum("SortColumn", {c: c for c in filters.SORTABLE})


class SeriesFormat(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


class SeriesRow(BaseModel):
    case_id: int
    sender_case_id: str
    version: int
    report_type: str
    first_received: dt.date
    country: str | None
    age_years: float | None
    sex: str | None
    product: str | None
    lot: str | None
    infusion_date: dt.date | None
    onset_date: dt.date | None
    days_to_onset: int | None
    serious: bool
    seriousness: str
    reactions: str
    outcome: str
    expectedness: str
    transgene_in_tumour: str | None
    vector_test: str | None
    narrative_excerpt: str


class SeriesAgreement(BaseModel):
    two_by_two_a: int | None
    listed: int
    run_id: int | None
    agrees: bool
    reasons: list[str]


class SeriesPage(BaseModel):
    alert_id: int
    has_series: bool
    total: int
    matched: int
    agreement: SeriesAgreement
    items: list[SeriesRow]
    next_cursor: str | None = None


@router.get("/{alert_id}/case-series", response_model=SeriesPage,
            responses={200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-officedocument."
                                                          "spreadsheetml.sheet": {}}}})
def case_series(
    session: SessionDep, principal: SafetyOfficer, alert_id: DbId, now: Now,
    format: SeriesFormat = SeriesFormat.json,
    q: Annotated[str, Query(max_length=200, description="Words in the sender's id, reactions, narrative, lot")] = "",
    country: Annotated[str, Query(max_length=2)] = "",
    sex: Annotated[str, Query(max_length=10)] = "",
    serious: bool | None = None,
    outcome: Annotated[str, Query(max_length=30)] = "",
    expectedness: Annotated[str, Query(max_length=30)] = "",
    lot: Annotated[str, Query(max_length=100)] = "",
    sort: SortColumn = SortColumn.first_received,
    descending: bool = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
):
    alert = alerting.visible_alert(session, principal, alert_id)
    f = filters.SeriesFilters(q=q, country=country, sex=sex, serious=serious, outcome=outcome,
                              expectedness=expectedness, lot=lot, sort=sort.value, descending=descending)
    if format != SeriesFormat.json:
        body, media, name = exported(session, alert, f, format.value, now)
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
    offset = decode_offset(cursor)
    view = series_view(session, alert, f, offset, limit)
    a = view.agreement
    return SeriesPage(alert_id=alert.id, has_series=view.has_series, total=view.total, matched=view.matched,
                      agreement=SeriesAgreement(two_by_two_a=a.counted, listed=a.listed, run_id=a.run_id,
                                                agrees=a.agrees, reasons=a.reasons),
                      items=[SeriesRow(**r) for r in records(view.rows)],
                      next_cursor=encode_offset(offset + limit) if offset + limit < view.matched else None)
