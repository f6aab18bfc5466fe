"""Stored signal runs and their pairs. Statistics run in jobs, never inside a request."""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from sqlmodel import select

from pv_service.auth.principal import Principal, SessionDep, require
from pv_service.common.errors import InvalidInput, NotFound
from pv_service.common.lookup import get_or_404
from pv_service.common.pagination import (
    Page,
    PageDep,
    decode_offset,
    offset_page,
    paginate,
)
from pv_service.common.types import Count, DbId
from pv_service.common.vocab import Role
from pv_service.products.models import Product
from pv_service.signals.levels import Level
from pv_service.signals.models import MEASURE_COLUMNS, SignalPair, SignalRun, SignalTrend
from pv_service.signals import trend_queries
from pv_service.signals.schemas import PairPublic, QuarterlyTrend, RunPublic, TrendPoint

router = APIRouter(prefix="/v1/signals", tags=["signals"])
SignalReader = Annotated[Principal, Depends(require(Role.safety_officer, Role.mah))]
SortKey = StrEnum("SortKey", {c: c for c in MEASURE_COLUMNS})


def _scope(principal: Principal):
    """An MAH sees pairs of its own products only."""
    if principal.role == Role.mah:
        return SignalPair.product.in_(select(Product.code).where(Product.mah_organization_id == principal.organization_id))
    return sa.true()


@router.get("/runs", response_model=Page[RunPublic])
def list_runs(session: SessionDep, _: SignalReader, page: PageDep, level: str | None = None):
    stmt = select(SignalRun)
    if level is not None:
        stmt = stmt.where(SignalRun.level == level)
    items, cursor = paginate(session, stmt, SignalRun.id, page)
    return Page(items=items, next_cursor=cursor)


@router.get("/runs/{run_id}", response_model=RunPublic)
def get_run(session: SessionDep, _: SignalReader, run_id: DbId):
    return get_or_404(session, SignalRun, run_id, "no such run")


@router.get("/runs/{run_id}/pairs", response_model=Page[PairPublic])
def list_pairs(
    session: SessionDep, principal: SignalReader, run_id: DbId,
    product: Annotated[str | None, Query(description="Product code")] = None,
    event: Annotated[str | None, Query(description="Event: MedDRA code at the run's level, or group name")] = None,
    level: Annotated[str | None, Query(description='The level the pairs must be at: pt, hlt, hlgt, soc, '
                                                   'smq, with an option as "soc:all" or "smq:broad", or group')] = None,
    min_n: Count = 0,
    sort: SortKey = SortKey.n,
    descending: bool = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
):
    """A run's pairs, filtered and sorted by any measure (a run never changes, so pages are stable)."""
    run = session.get(SignalRun, run_id)
    if run is None:
        raise NotFound("no such run")
    if level is not None:
        _check_level(run, level)
    column = getattr(SignalPair, sort.value)
    order = column.desc() if descending else column.asc()
    # NULLs (undefined measures) last in either direction, on both databases.
    stmt = select(SignalPair).where(SignalPair.run_id == run_id, _scope(principal), SignalPair.n >= min_n)
    if product is not None:
        stmt = stmt.where(SignalPair.product == product)
    if event is not None:
        stmt = stmt.where(SignalPair.event == event)
    items, next_cursor = offset_page(session, stmt.order_by(column.is_(None), order, SignalPair.id),
                                     decode_offset(cursor), limit)
    return Page(items=items, next_cursor=next_cursor)


def _check_level(run: SignalRun, level: str) -> None:
    """A run counts at one level: asking another is an error naming the run's level, not an empty page."""
    if level != "group":
        try:
            level = Level.parse(level).label
        except ValueError as exc:
            raise InvalidInput.one(("query", "level"), str(exc)) from None
    if level != run.level:
        raise InvalidInput.one(("query", "level"), f"run {run.id} counts at level {run.level!r}, not {level!r}; "
                               f"GET /v1/signals/runs?level={level} lists the runs at that level")


@router.get("/trend", response_model=list[TrendPoint])
def trend(session: SessionDep, principal: SignalReader, product: str, event: str, level: str = "pt"):
    """One pair's measures across runs, oldest first."""
    rows = session.exec(
        select(SignalPair, SignalRun.as_of).join(SignalRun, SignalRun.id == SignalPair.run_id)
        .where(SignalPair.product == product, SignalPair.event == event, SignalRun.level == level, _scope(principal))
        .order_by(SignalRun.id)
    ).all()
    return [TrendPoint.model_validate({**{f: getattr(p, f) for f in PairPublic.model_fields}, "as_of": as_of})
            for p, as_of in rows]


@router.get("/quarterly", response_model=QuarterlyTrend)
def quarterly_trend(session: SessionDep, principal: SignalReader, product: str, event: str, level: str = "pt"):
    """One pair's measures by calendar quarter of first receipt (cumulative and interval), from the latest
    run at the level that kept them (runs keep them for flagged and designated pairs)."""
    scope = sa.true()
    if principal.role == Role.mah:
        scope = SignalTrend.product.in_(select(Product.code).where(Product.mah_organization_id == principal.organization_id))
    return trend_queries.quarterly(session, product, event, level, scope)
