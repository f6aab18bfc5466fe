"""FHIR over HTTP: create an AdverseEvent (alone or in a Bundle), read it back, the CapabilityStatement.

Every 4xx of these routes, authentication and validation included, is an OperationOutcome.
"""
from __future__ import annotations

import json
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from pv_service.auth.principal import CurrentPrincipal, DataReader, Principal, require
from pv_service.common.errors import DomainError
from pv_service.common.types import DbId
from pv_service.common.vocab import Role
from pv_service.core.db import app_engine, session_scope
from pv_service.core.deps import clock_of
from pv_service.fhir import capability, r4, r5, read, render, service, transaction
from pv_service.fhir.outcome import FhirError, Issue, fhirpath, operation_outcome
from pv_service.fhir.read import R5

_HTTP_CODES = {401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 409: "conflict",
               413: "too-costly", 415: "not-supported"}


# _format (FHIR RESTful API: it overrides Accept, for clients that cannot set headers)
_FORMATS = {"json": "json", "application/json": "json", "application/fhir+json": "json",
            "xml": "xml", "text/xml": "xml", "application/xml": "xml", "application/fhir+xml": "xml"}


def _answer_format(request: Request) -> tuple[str, str]:
    """('json' | 'xml', version) of the answer: _format, then Accept, then the request's own Content-Type."""
    accept = request.headers.get("accept", "").lower()
    sent = request.headers.get("content-type", "").lower()
    fmt, version = read.negotiate(accept)
    fmt = fmt or ("xml" if "xml" in sent.split(";")[0] else "json")
    fmt = _FORMATS.get((request.query_params.get("_format") or "").split(";")[0].strip().lower(), fmt)
    if version is None and sent:
        try:
            version = read.media(sent)[1]
        except FhirError:
            version = None
    return fmt, version or R5


def fhir_response(request: Request, resource: dict, status: int = 200, headers: dict | None = None,
                  version: str | None = None) -> Response:
    fmt, asked = _answer_format(request)
    version = version or asked
    if fmt == "xml":
        model = read.model_class(version, resource["resourceType"]).model_validate(resource)
        body, media = model.model_dump_xml(), "application/fhir+xml"
    else:
        body, media = orjson.dumps(resource), "application/fhir+json"
    return Response(body, status_code=status, headers=headers,
                    media_type=f"{media}; fhirVersion={read.MIME_VERSION[version]}")


def outcome_response(request: Request, status: int, issues: list[Issue], headers: dict | None = None) -> Response:
    return fhir_response(request, operation_outcome(issues), status, headers)


def unmatched_response(request: Request, status: int, detail: str, headers: dict | None = None) -> Response:
    """A request under /fhir no route takes (an unknown resource type or operation, a method not
    supported): an OperationOutcome, with what is supported."""
    if status == 404:
        detail = (f"{request.method} {request.url.path}: not supported here; this server takes AdverseEvent "
                  "(create, read, vread) and Bundle (transaction, collection), see /fhir/metadata")
    elif status == 405:
        detail = f"{request.method} is not supported on {request.url.path} (see /fhir/metadata)"
    code = "not-supported" if status in (404, 405) else _HTTP_CODES.get(status, "processing")
    try:
        return outcome_response(request, status, [Issue("", detail, code)], headers)
    except FhirError:  # an Accept it cannot be answered in: JSON
        return Response(orjson.dumps(operation_outcome([Issue("", detail, code)])), status_code=status,
                        headers=headers, media_type="application/fhir+json")


class FhirRoute(APIRoute):
    """Answers every refusal of a FHIR route as an OperationOutcome."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except FhirError as exc:
                return outcome_response(request, exc.status, exc.issues)
            except RequestValidationError as exc:
                # Path and query parameters are not elements of a resource: named in the text.
                issues = [Issue(fhirpath("Resource", tuple(e["loc"][1:])) if e["loc"][0] == "body" else "",
                                f"{'.'.join(map(str, e['loc']))}: {e['msg']}", "value") for e in exc.errors()]
                # An id that is not one of ours is simply not found (FHIR ids are strings).
                status = 404 if all(e["loc"][0] == "path" for e in exc.errors()) else 422
                return outcome_response(request, status, issues)
            except HTTPException as exc:
                return outcome_response(request, exc.status_code, [Issue("", str(exc.detail),
                                        _HTTP_CODES.get(exc.status_code, "processing"))], exc.headers)
            except DomainError as exc:
                return outcome_response(request, exc.status_code, [Issue("", exc.message,
                                        _HTTP_CODES.get(exc.status_code, "processing"))])

        return route


# As for JSON reports: a clinic its own patients (registered or described), an MAH cases about its products.
ReportSender = Annotated[Principal, Depends(require(Role.clinic, Role.mah))]
router = APIRouter(prefix="/fhir", tags=["fhir"], route_class=FhirRoute)
FHIR_BODY = {"requestBody": {"required": True, "content": {
    "application/fhir+json": {"schema": {"type": "object"}}, "application/fhir+xml": {"schema": {"type": "string"}}}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "This version was already received with the same content (the stored AdverseEvent)"},
    201: {"description": "Stored: Location names the AdverseEvent and its version", "content": {
        "application/fhir+json": {}}},
    400: {"description": "OperationOutcome: not parseable (malformed JSON or XML, a DOCTYPE)"},
    409: {"description": "OperationOutcome: this version was received with different content"},
    415: {"description": "OperationOutcome: not FHIR JSON or XML, or an unknown fhirVersion"},
    422: {"description": "OperationOutcome: invalid, with the FHIRPath of each problem; nothing stored"},
}


@router.get("/metadata", responses={200: {"description": "CapabilityStatement", "content": {
    "application/fhir+json": {}}}})
async def metadata(request: Request) -> Response:
    """What this FHIR endpoint supports (no sign-in needed: it names no data)."""
    version = _answer_format(request)[1]
    return fhir_response(request, capability.capability_statement(version, clock_of(request)()), version=version)


async def _create(request: Request, principal, expected: tuple[str, ...]) -> Response:
    fmt, hint = read.media(request.headers.get("content-type"))
    data = await request.body()
    parsed = read.parse(data, fmt, hint, expected)
    now = clock_of(request)()
    # the answer in the version the client accepts (else the one it sent), rendered in that version:
    # rendered in the sent one and labelled the accepted one, an R4 body failed R5's model after the commit
    answer = read.accept_version(request.headers.get("accept")) or parsed.version

    def store():
        with session_scope(app_engine(request)) as session:
            receipt = service.receive(session, principal, parsed, now)
            session.commit()
            case, view, registry = service.read_case(session, principal, receipt.case_id)
            return receipt, _render(case, view, registry, answer), view.created_at

    receipt, resource, stored_at = await run_in_threadpool(store)
    location = f"AdverseEvent/{receipt.case_id}/_history/{receipt.version + 1}"
    status, etag = 201 if receipt.created else 200, f'W/"{receipt.version + 1}"'
    headers = {"Location": f"/fhir/{location}", "ETag": etag}
    if receipt.warnings:  # stored nonetheless; a created resource has no place for them (a transaction's entry has)
        headers["X-Warnings"] = json.dumps(operation_outcome(receipt.warnings))  # ASCII: a header must be
    prefer = _prefer_return(request.headers.get("prefer"))
    bundle = parsed.resource
    if bundle.get_resource_type() == "Bundle" and bundle.type == "transaction":
        kinds = [e.resource.get_resource_type() if e.resource is not None else None for e in bundle.entry or []]
        resource = transaction.response_bundle(kinds, kinds.index("AdverseEvent"), status, location, etag,
                                               stored_at, None if prefer == "minimal" else resource, receipt.warnings)
    elif prefer == "minimal":  # FHIR: no body, the Location and ETag say what was stored
        return Response(status_code=status, headers=headers)
    elif prefer == "OperationOutcome":
        note = Issue("", f"stored as {location}" if receipt.created else f"{location} was already stored with "
                         "this content", "informational", "information")
        resource = operation_outcome([note, *receipt.warnings])
    return fhir_response(request, resource, status, headers, version=answer)


def _prefer_return(header: str | None) -> str:
    """The `return` preference (RFC 7240, FHIR: minimal, representation or OperationOutcome); representation
    when absent or unknown."""
    for part in (header or "").split(","):
        for token in part.split(";"):
            name, _, value = token.strip().partition("=")
            if name.strip().lower() == "return":
                value = value.strip().strip('"')
                return {"minimal": "minimal", "operationoutcome": "OperationOutcome"}.get(value.lower(),
                                                                                           "representation")
    return "representation"


def _render(case, view, registry, version: str) -> dict:
    parts = render.parts(case, view, registry)
    return (r5 if version == R5 else r4).render(parts)


@router.post("/AdverseEvent", status_code=201, responses=RESPONSES, openapi_extra=FHIR_BODY)
async def create_adverse_event(request: Request, principal: ReportSender) -> Response:
    """One AdverseEvent (R5 or R4/R4B, JSON or XML) whose references are contained (`#id`) or logical
    (subject.identifier); the clinic's own case (registered or described patient), or an MAH's case about its
    products (patient described)."""
    return await _create(request, principal, ("AdverseEvent",))


@router.post("", status_code=201, responses=RESPONSES, openapi_extra=FHIR_BODY)
async def create_from_bundle(request: Request, principal: ReportSender) -> Response:
    """A transaction or collection Bundle holding one AdverseEvent and the Patient, Medication (or Immunization,
    BiologicallyDerivedProduct) and Practitioner resources it references."""
    return await _create(request, principal, ("Bundle",))


def _read(request: Request, principal, case_id: int, version: int | None) -> Response:
    with session_scope(app_engine(request)) as session:
        case, view, registry = service.read_case(session, principal, case_id, version)
    wanted = read.accept_version(request.headers.get("accept")) or R5
    return fhir_response(request, _render(case, view, registry, wanted), headers={"ETag": f'W/"{view.version + 1}"'},
                         version=wanted)


@router.get("/AdverseEvent/{case_id}", responses={200: {"content": {"application/fhir+json": {}}}})
def read_adverse_event(request: Request, principal: DataReader, case_id: DbId) -> Response:
    """The case's latest version as an AdverseEvent (R5; R4B with Accept: application/fhir+json;
    fhirVersion=4.3); only cases the caller may read (a clinic its own, an MAH its products')."""
    return _read(request, principal, case_id, None)


@router.get("/AdverseEvent/{case_id}/_history/{version_id}", responses={200: {"content": {"application/fhir+json": {}}}})
def vread_adverse_event(request: Request, principal: DataReader, case_id: DbId,
                        version_id: Annotated[int, Path(ge=1, le=1000)]) -> Response:
    """One version of the case (1 = the initial report)."""
    return _read(request, principal, case_id, version_id - 1)


@router.api_route("/{resource_type}", methods=["GET", "POST"], include_in_schema=False)
async def unsupported(request: Request, principal: CurrentPrincipal, resource_type: str) -> Response:
    what = ("searching AdverseEvents is not supported: read one by id" if resource_type == "AdverseEvent"
            else f"{resource_type[:64]!r} is not a resource type served here (AdverseEvent only)")
    raise FhirError.one(404, "", what, "not-supported")
