"""E2B(R3) over HTTP: POST /v1/e2b/batches (an ICSR batch in, an ICH acknowledgement out)."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pydantic import BaseModel, ConfigDict, Field

from pv_service.auth.principal import DataReader, Principal, SessionDep, require
from pv_service.common.errors import InvalidInput
from pv_service.common.types import DbId
from pv_service.common.vocab import Role
from pv_service.core.db import app_engine
from pv_service.core.deps import Now, clock_of
from pv_service.core.settings import get_settings
from pv_service.e2b import service
from pv_service.e2b.reader import XML_TYPES, Refused
from pv_service.e2b.schema_set import SchemaSetError

router = APIRouter(tags=["e2b"])


@router.post("/v1/e2b/batches", responses={
    200: {"description": "The ICH acknowledgement (MCCI_IN200101UV01; AA or AE), or the same as JSON "
                         "with Accept: application/json", "content": {"application/xml": {}}},
    400: {"description": "Refused before parsing: malformed, a DOCTYPE, E2B(R2), wrong root, not UTF-8"},
    413: {"description": "Larger than PV_E2B_MAX_BYTES (or PV_MAX_BODY_BYTES)"},
    415: {"description": "The body is not XML"},
    422: {"description": "The batch as a whole was refused (AR), e.g. its wrapper fails the schema"},
    503: {"description": "No ICH schema set installed: import refuses to run rather than skip validation"},
})
async def import_batch(request: Request,
                       principal: Principal = Depends(require(Role.clinic, Role.mah))) -> Response:
    """Import one MCCI_IN200100UV01 batch of one or many PORR_IN049016UV messages, each stored or refused
    on its own (clinics: their own cases; MAHs: cases about their products, the MAH as sender)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in XML_TYPES:
        return JSONResponse({"detail": f"send the batch as application/xml, not {content_type or 'no type'}"},
                            status_code=415)
    data = await request.body()
    settings = get_settings()
    try:
        received = await run_in_threadpool(service.receive, app_engine(request), settings, principal, data,
                                           clock_of(request)())
    except SchemaSetError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=503)
    except Refused as exc:
        return JSONResponse({"detail": exc.reason}, status_code=exc.status)
    status = 422 if received.result.code == "AR" else 200
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(received.result.as_json(), status_code=status)
    return Response(received.ack_xml, status_code=status, media_type="application/xml")


Profile = Literal["ich", "fda", "nmpa"]


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_ids: list[DbId] = Field(min_length=1, max_length=1000)
    profile: Profile = "ich"
    receiver: str | None = Field(default=None, min_length=1, max_length=100, description="N.1.4 / N.2.r.3")


def _xml(session, principal, case_ids, profile, receiver, now) -> Response:
    data = service.export_cases(session, principal, case_ids, profile, get_settings().e2b_identifier, now, receiver)
    return Response(data, media_type="application/xml")


@router.get("/v1/reports/{case_id}/e2b", response_class=Response,
            responses={200: {"content": {"application/xml": {}}, "description": "An E2B(R3) batch of this case"}})
def export_one(session: SessionDep, principal: DataReader, case_id: DbId, now: Now,
               profile: Profile = "ich", receiver: Annotated[str | None, Query(min_length=1, max_length=100)] = None):
    """The case's latest version as E2B(R3), with the receivers and regional elements of the profile."""
    return _xml(session, principal, [case_id], profile, receiver, now)


@router.post("/v1/e2b/exports", response_class=Response,
             responses={200: {"content": {"application/xml": {}}, "description": "One E2B(R3) batch of the cases"}})
def export_many(session: SessionDep, principal: DataReader, body: ExportIn, now: Now):
    """Many cases in one batch (the latest version of each)."""
    if len(set(body.case_ids)) != len(body.case_ids):
        raise InvalidInput.one(("body", "case_ids"), "lists a case twice")
    return _xml(session, principal, body.case_ids, body.profile, body.receiver, now)
