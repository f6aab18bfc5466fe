"""Review of duplicate candidates: safety officers only (clusters span organizations)."""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlmodel import select

from pv_service.auth.principal import Principal, SessionDep, require
from pv_service.common.pagination import Page, PageDep, paginate
from pv_service.common.types import DbId
from pv_service.common.vocab import Role
from pv_service.core.deps import Now
from pv_service.duplicates import service
from pv_service.duplicates.models import DuplicateCluster
from pv_service.duplicates.schemas import ClusterPublic, ConfirmIn, DecisionIn

router = APIRouter(prefix="/v1/duplicates", tags=["duplicates"])
Reviewer = Annotated[Principal, Depends(require(Role.safety_officer))]


class ClusterStatus(StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    rejected = "rejected"


@router.get("", response_model=Page[ClusterPublic])
def list_clusters(session: SessionDep, principal: Reviewer, page: PageDep,
                  status: ClusterStatus = ClusterStatus.pending):
    """Clusters with their score, the fields that agree and disagree, and each case side by side."""
    stmt = select(DuplicateCluster).where(DuplicateCluster.status == status.value)
    items, cursor = paginate(session, stmt, DuplicateCluster.id, page)
    return Page(items=[service.describe(session, c) for c in items], next_cursor=cursor)


@router.get("/{cluster_id}", response_model=ClusterPublic)
def get_cluster(session: SessionDep, principal: Reviewer, cluster_id: DbId):
    return service.describe(session, service.get_cluster(session, cluster_id))


_DECIDED = {404: {"description": "No such cluster"}, 409: {"description": "Not pending (or nothing to undo)"}}


@router.post("/{cluster_id}/confirm", response_model=ClusterPublic, responses=_DECIDED)
def confirm(session: SessionDep, principal: Reviewer, cluster_id: DbId, body: ConfirmIn, now: Now):
    """The master keeps every case reference; the duplicates leave every count, their dates as received."""
    cluster = service.confirm(session, principal, service.get_cluster(session, cluster_id), body, now)
    session.commit()
    return service.describe(session, cluster)


@router.post("/{cluster_id}/reject", response_model=ClusterPublic, responses=_DECIDED)
def reject(session: SessionDep, principal: Reviewer, cluster_id: DbId, body: DecisionIn, now: Now):
    """Not duplicates: these pairs are never suggested again."""
    cluster = service.reject(session, principal, service.get_cluster(session, cluster_id), body, now)
    session.commit()
    return service.describe(session, cluster)


@router.post("/{cluster_id}/undo", response_model=ClusterPublic, responses=_DECIDED)
def undo(session: SessionDep, principal: Reviewer, cluster_id: DbId, body: DecisionIn, now: Now):
    """Back to pending: a confirmed cluster's duplicates count again."""
    cluster = service.undo(session, principal, service.get_cluster(session, cluster_id), body, now)
    session.commit()
    return service.describe(session, cluster)
