"""E2B(R3) over HTTP: POST /v1/e2b/batches (an ICSR batch in, an ICH acknowledgement out)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pv_service.auth.principal import Principal, require
from pv_service.common.vocab import Role
from pv_service.core.db import app_engine
from pv_service.core.deps import clock_of
from pv_service.core.settings import get_settings
from pv_service.e2b import service
from pv_service.e2b.reader import Refused
from pv_service.e2b.schema_set import SchemaSetError

router = APIRouter(prefix="/v1/e2b", tags=["e2b"])
XML_TYPES = ("application/xml", "text/xml", "application/hl7-v3+xml")


@router.post("/batches", responses={
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
