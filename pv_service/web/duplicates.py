"""The safety officers' duplicate review page: clusters side by side, confirm / reject / undo."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import select

from pv_service.auth.principal import SessionDep
from pv_service.common.errors import Conflict, InvalidInput
from pv_service.core.deps import Now
from pv_service.duplicates import service
from pv_service.duplicates.linkage import COMPARED
from pv_service.duplicates.models import DuplicateCluster
from pv_service.duplicates.schemas import ConfirmIn, DecisionIn
from pv_service.web.auth import Officer, check_csrf
from pv_service.web.router import UIRoute, render

router = APIRouter(route_class=UIRoute, include_in_schema=False)
STATUSES = ("pending", "confirmed", "rejected")
PAGE = 25
DONE = {"confirmed": "Confirmed: the duplicates left every count; the master keeps their references.",
        "rejected": "Rejected: these cases will not be suggested as duplicates again.",
        "undone": "Undone: the cluster is pending again and every case counts."}


def _page(request: Request, session, web, status: str, error: str | None = None, done: str = "",
          status_code: int = 200) -> Response:
    clusters = session.exec(select(DuplicateCluster).where(DuplicateCluster.status == status)
                            .order_by(DuplicateCluster.score.desc(), DuplicateCluster.id).limit(PAGE)).all()
    return render(request, "duplicates.html", {
        "web": web, "nav": "duplicates", "status": status, "statuses": STATUSES, "error": error,
        "done": DONE.get(done), "clusters": [service.describe(session, c) for c in clusters], "compared": COMPARED,
        "fields": service.COMPARED_FIELDS}, status_code)


@router.get("/ui/duplicates")
def duplicates(request: Request, web: Officer, session: SessionDep, status: str = "pending",
               done: str = "") -> Response:
    if status not in STATUSES:
        raise InvalidInput.one(("query", "status"), f"must be one of {', '.join(STATUSES)}")
    return _page(request, session, web, status, done=done)


@router.post("/ui/duplicates/{cluster_id}/{decision}")
def decide(request: Request, web: Officer, session: SessionDep, now: Now, cluster_id: int, decision: str,
           master_case_id: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = "",
           csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(web, csrf_token)
    cluster = service.get_cluster(session, cluster_id)
    back = cluster.status

    def refuse(message: str, code: int) -> Response:
        session.rollback()
        return _page(request, session, web, back, error=f"Cluster {cluster_id}: {message}", status_code=code)

    if not comment.strip():
        return refuse("a comment is required: say why (it is recorded in the audit trail).", 422)
    try:
        if decision == "confirm":
            master = int(master_case_id) if master_case_id.strip() else None
            service.confirm(session, web.principal, cluster, ConfirmIn(master_case_id=master, comment=comment), now)
        elif decision == "reject":
            service.reject(session, web.principal, cluster, DecisionIn(comment=comment), now)
        elif decision == "undo":
            service.undo(session, web.principal, cluster, DecisionIn(comment=comment), now)
        else:
            return refuse(f"unknown decision {decision!r}", 404)
    except (ValueError, ValidationError) as exc:
        return refuse(f"master_case_id: {exc}" if isinstance(exc, ValueError) else str(exc), 422)
    except InvalidInput as exc:
        return refuse(exc.message, 422)
    except Conflict as exc:
        return refuse(exc.message, 409)
    session.commit()
    done = {"confirm": "confirmed", "reject": "rejected", "undo": "undone"}[decision]
    return RedirectResponse(f"/ui/duplicates?{urlencode({'status': back, 'done': done})}", status_code=303)
