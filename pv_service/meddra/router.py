"""Reading the loaded MedDRA dictionary: any signed-in role may."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from pv_service.auth.principal import CurrentPrincipal, SessionDep
from pv_service.common.pagination import Page, decode_offset, encode_offset
from pv_service.meddra import queries
from pv_service.meddra.schemas import Level, TermDetail, TermSummary, VersionPublic

router = APIRouter(prefix="/v1/meddra", tags=["meddra"])

VersionQuery = Annotated[str | None, Query(max_length=10, pattern=r"^[0-9]{1,3}\.[0-9]{1,2}$",
                                           description="A loaded version (default: the newest loaded)")]


@router.get("/versions", response_model=list[VersionPublic])
def list_versions(session: SessionDep, _: CurrentPrincipal):
    """The loaded versions, newest first."""
    return [VersionPublic.model_validate(r._asdict()) for r in queries.versions(session.connection())]


@router.get("/terms", response_model=Page[TermSummary])
def search_terms(
    session: SessionDep, _: CurrentPrincipal,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="A code, or part of a name "
                                                                           "(case and accents ignored)")] = None,
    version: VersionQuery = None, level: Level | None = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page")] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
):
    """Terms by code or name; current terms first, then exact and prefix matches."""
    conn = session.connection()
    version = queries.resolve_version(conn, version)
    offset = decode_offset(cursor)
    rows, more = queries.search(conn, version, q, level.value if level else None, offset, limit)
    return Page(items=[TermSummary.model_validate(r._asdict()) for r in rows],
                next_cursor=encode_offset(offset + limit) if more else None)


@router.get("/terms/{code}", response_model=TermDetail)
def get_term(
    session: SessionDep, _: CurrentPrincipal,
    code: Annotated[str, Path(pattern=r"^[0-9]{8}$", description="An 8-digit MedDRA code")],
    version: VersionQuery = None,
    level: Annotated[Level | None, Query(description="When a code is at several levels (default: the lowest)")] = None,
):
    """A term with its full hierarchy (LLT > PT > HLT > HLGT > SOC, the primary path marked) and SMQs."""
    conn = session.connection()
    version = queries.resolve_version(conn, version)
    return queries.detail(conn, version, code, level.value if level else None)
