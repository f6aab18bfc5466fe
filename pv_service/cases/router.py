from __future__ import annotations

import datetime as dt
from typing import Annotated

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from pv_service.audit import chain as audit
from pv_service.auth.principal import (
    DataReader,
    Principal,
    SessionDep,
    require,
)
from pv_service.cases import intake_pg, intake_sql, service
from pv_service.cases.access import case_filter
from pv_service.cases.intake import Outcome
from pv_service.cases.models import (
    Case,
    CaseDrug,
    CaseReaction,
    CaseVersion,
    RegulatorySubmission,
)
from pv_service.cases.schemas import (
    BatchIn,
    BatchOut,
    CasePublic,
    CaseReceipt,
    ReportIn,
    SubmissionIn,
    SubmissionPublic,
    VersionPublic,
)
from pv_service.common.errors import Conflict, InvalidInput, NotFound, check_range
from pv_service.common.field_warnings import FieldWarning, as_warnings
from pv_service.common.pagination import Page, PageDep, paginate
from pv_service.common.types import ApiDate, DbId
from pv_service.common.vocab import Role
from pv_service.core import pg
from pv_service.core.db import app_engine, session_scope
from pv_service.core.deps import Now, clock_of
from pv_service.core.settings import get_settings
from pv_service.e2b.reader import XML_TYPES
from pv_service.products.models import Product, ProductApproval

router = APIRouter(prefix="/v1/reports", tags=["reports"])
# A clinic reports its patients (registered or described); an MAH, cases about its products with the patient
# described (as each may import E2B).
ReportSender = Annotated[Principal, Depends(require(Role.clinic, Role.mah))]


def _case_views(session: Session, cases: list[Case]) -> list[CasePublic]:
    by_id = {c.id: c for c in cases}
    latest = list(session.exec(select(CaseVersion).where(CaseVersion.id.in_([c.latest_version_id for c in cases])))) if cases else []
    views = {v.case_id: v for v in service.describe_versions(session, by_id, latest)}
    numbers = service.versions_of(session, list(by_id))
    return [
        CasePublic(
            id=c.id, sender_id=c.sender_id, sender_case_id=c.sender_case_id, patient_id=c.patient_id,
            first_received=c.first_received, latest_version=c.latest_version, versions=numbers[c.id], latest=views[c.id],
        )
        for c in cases
    ]


async def _receive(app, principal: Principal, reports: list[ReportIn], now: dt.datetime,
                   views: bool = False) -> list[Outcome]:
    """On PostgreSQL straight through psycopg on the event loop; elsewhere through a session in the thread pool."""
    engine = app.state.engine
    if engine.dialect.name == "postgresql":
        async with pg.connection(app.state.pg_pools, engine) as conn:
            return await intake_pg.submit_many(conn, principal, reports, now, views=views)
    return await run_in_threadpool(_receive_sql, engine, principal, reports, now, views)


def _receive_sql(engine, principal: Principal, reports: list[ReportIn], now: dt.datetime,
                 views: bool = False) -> list[Outcome]:
    with session_scope(engine) as session:
        outcomes = intake_sql.submit_many(session, principal, reports, now, views=views)
        session.commit()
    return outcomes


async def _receive_one(request: Request, principal: Principal, report: ReportIn) -> Outcome:
    """Stored with the other single reports this worker receives from the same principal meanwhile
    (pv_service.cases.intake_group): one transaction for all of them."""
    app = request.app

    async def store(reports: list[ReportIn], now: dt.datetime) -> list[Outcome]:
        return await _receive(app, principal, reports, now, views=True)

    return await app.state.report_groups.get().submit(principal, report, store, clock_of(request))


def _stored_view(engine, case_id: int) -> CasePublic:
    with session_scope(engine) as session:
        return _case_views(session, [session.get(Case, case_id)])[0]


@router.post("", response_model=CaseReceipt, status_code=201,
             responses={200: {"description": "This version was already received with the same content"},
                        409: {"description": "This version was received with different content"}})
async def submit_report(request: Request, principal: ReportSender, body: ReportIn) -> Response:
    outcome = await _receive_one(request, principal, body)
    if outcome.error is not None:
        raise outcome.error
    sub = outcome.submission
    view = sub.view or await run_in_threadpool(_stored_view, app_engine(request), sub.case_id)
    duplicates = await _duplicate_check(request, principal, [sub])
    # Serialised here: the view was built from validated data, so FastAPI need not validate it again.
    receipt = CaseReceipt.model_construct(**dict(view), warnings=[FieldWarning(**w) for w in as_warnings(sub.warnings)],
                                          possible_duplicate_of=duplicates.get(sub.case_id, []))
    return Response(receipt.model_dump_json(), status_code=201 if sub.created else 200, media_type="application/json")


@router.post("/batch", response_model=BatchOut)
async def submit_batch(request: Request, principal: ReportSender, body: BatchIn) -> Response:
    """Many reports per call; each item stands or falls alone, and the result lists each item's fate."""
    now = clock_of(request)()
    limit = get_settings().max_batch_items
    if len(body.reports) > limit:
        raise InvalidInput.one(("body", "reports"), f"at most {limit} reports per batch")
    results: dict[int, dict] = {}

    def validated(indexes: list[int]) -> list[tuple[int, ReportIn]]:
        reports = []
        for index in indexes:
            try:
                reports.append((index, ReportIn.model_validate(body.reports[index])))
            except ValidationError as exc:
                errors = [{"loc": ["body", "reports", index, *e["loc"]], "msg": e["msg"], "type": e["type"]}
                          for e in exc.errors(include_url=False, include_context=False, include_input=False)]
                results[index] = _item(index, 422, "invalid", errors=errors)
        return reports

    engine = app_engine(request)
    if engine.dialect.name == "postgresql" and len(body.reports) > intake_pg.CHUNK_SIZE:
        # In chunks on several connections, each sent as soon as it is validated.
        keys = [str(raw.get("sender_case_id")) for raw in body.reports]
        chunks = (validated(c) for c in intake_pg.chunks_by_case(keys, intake_pg.CHUNK_SIZE))
        outcomes = await intake_pg.submit_chunks(lambda: pg.connection(request.app.state.pg_pools, engine),
                                                 principal, chunks, now)
    else:
        parsed = validated(list(range(len(body.reports))))
        received = await _receive(request.app, principal, [r for _, r in parsed], now) if parsed else []
        outcomes = {index: outcome for (index, _), outcome in zip(parsed, received)}
    stored = [o.submission for o in outcomes.values() if o.error is None]
    duplicates = await _duplicate_check(request, principal, stored)
    for index, outcome in outcomes.items():
        results[index] = _batch_result(index, outcome)
        if outcome.error is None:
            results[index]["possible_duplicate_of"] = duplicates.get(outcome.submission.case_id, [])
    items = [results[i] for i in range(len(body.reports))]
    created = sum(r["outcome"] == "created" for r in items)
    unchanged = sum(r["outcome"] == "unchanged" for r in items)
    # The BatchOut shape (response_model, checked by tests/api against the schema) built as
    # plain data: for 500 items, pydantic objects cost more than storing the reports' rows.
    out = {"created": created, "unchanged": unchanged, "failed": len(items) - created - unchanged, "results": items}
    return Response(orjson.dumps(out), media_type="application/json")


async def _duplicate_check(request: Request, principal: Principal, subs: list) -> dict[int, list[int]]:
    """Identical content under another case id, and the data-quality guards (never refuses a report)."""
    from pv_service.duplicates.intake_check import after_intake

    return await after_intake(request.app, app_engine(request), principal, subs, clock_of(request)())


def _item(index: int, status: int, outcome: str, case_id: int | None = None, version: int | None = None,
          errors: list | None = None, warnings: list | None = None) -> dict:
    return {"index": index, "status": status, "outcome": outcome, "case_id": case_id, "version": version,
            "errors": errors or [], "warnings": warnings or [], "possible_duplicate_of": []}


def _batch_result(index: int, outcome) -> dict:
    exc = outcome.error
    if exc is None:
        sub = outcome.submission
        return _item(index, 201 if sub.created else 200, "created" if sub.created else "unchanged",
                     case_id=sub.case_id, version=sub.version,
                     warnings=as_warnings(sub.warnings, ("body", "reports", index)))
    if isinstance(exc, InvalidInput):
        errors = [{"loc": ["body", "reports", index, *p.loc[1:]], "msg": p.msg, "type": p.type} for p in exc.problems]
        return _item(index, 422, "invalid", errors=errors)
    kind = {409: "conflict", 403: "forbidden"}.get(exc.status_code, "invalid")
    return _item(index, exc.status_code, kind, errors=[{"loc": ["body", "reports", index], "msg": exc.message, "type": kind}])


def _pt_matches(pt: str):
    """The PT code, or the PT name whatever its case and surrounding spaces (a search
    convenience for people; names decide no count)."""
    pt = pt.strip()
    return (CaseReaction.pt_code == pt) | (sa.func.lower(sa.func.trim(CaseReaction.pt_name)) == pt.lower())


@router.get("", response_model=Page[CasePublic])
def list_reports(
    session: SessionDep, principal: DataReader, page: PageDep,
    product: Annotated[str | None, Query(description="Product code named in the current version")] = None,
    pt: Annotated[str | None, Query(max_length=250, description=(
        "MedDRA PT code; or a PT name, matched whatever its case and surrounding spaces"))] = None,
    serious: bool | None = None,
    received_from: Annotated[ApiDate | None, Query(description="First receipt on or after")] = None,
    received_to: Annotated[ApiDate | None, Query(description="First receipt on or before")] = None,
    clinic_id: DbId | None = None,
    patient_id: DbId | None = None,
):
    stmt = select(Case).where(case_filter(principal))
    if product is not None:
        stmt = stmt.where(Case.latest_version_id.in_(
            select(CaseDrug.case_version_id).join(Product, Product.id == CaseDrug.product_id).where(Product.code == product)
        ))
    if pt is not None:
        stmt = stmt.where(Case.latest_version_id.in_(
            select(CaseReaction.case_version_id).where(_pt_matches(pt))
        ))
    if serious is not None:
        stmt = stmt.where(Case.latest_version_id.in_(select(CaseVersion.id).where(CaseVersion.serious == serious)))
    check_range(received_from, received_to, "received_from", "received_to")
    if received_from is not None:
        stmt = stmt.where(Case.first_received >= received_from)
    if received_to is not None:
        stmt = stmt.where(Case.first_received <= received_to)
    if clinic_id is not None:
        stmt = stmt.where(Case.sender_id == clinic_id)
    if patient_id is not None:
        stmt = stmt.where(Case.patient_id == patient_id)
    items, cursor = paginate(session, stmt, Case.id, page)
    return Page(items=_case_views(session, items), next_cursor=cursor)


def _visible_case(session: Session, principal: Principal, case_id: DbId) -> Case:
    case = session.exec(select(Case).where(Case.id == case_id, case_filter(principal))).first()
    if case is None:
        raise NotFound("no such report")
    return case


@router.get("/{case_id}", response_model=CasePublic)
def get_report(session: SessionDep, principal: DataReader, case_id: DbId):
    return _case_views(session, [_visible_case(session, principal, case_id)])[0]


@router.get("/{case_id}/versions/{version}", response_model=VersionPublic)
def get_report_version(session: SessionDep, principal: DataReader, case_id: DbId, version: Annotated[int, Path(ge=0, le=999)]):
    case = _visible_case(session, principal, case_id)
    row = service.get_version(session, case, version)
    return service.describe_versions(session, {case.id: case}, [row])[0]


SubmissionRecorder = Annotated[Principal, Depends(require(Role.safety_officer, Role.mah))]


Jurisdiction = Annotated[str | None, Query(min_length=2, max_length=20, examples=["FDA"],
                                           description="With an ACK body: the regulator (default: the one the "
                                                       "ACK's sender ACK.M.2 names, ZZFDA or NMPA)")]
SUBMISSION_BODY = {"required": True, "content": {
    "application/json": {"schema": SubmissionIn.model_json_schema()},
    "application/xml": {"schema": {"type": "string", "description": "The regulator's ICH ACK (MCCI_IN200101UV01)"}},
}}


@router.post("/{case_id}/submissions", response_model=SubmissionPublic, status_code=201, responses={
    200: {"description": "Already recorded with the same date (for an ACK: this acceptance was)"},
    422: {"description": "Invalid JSON body, or an XML body that is not an ICH acknowledgement "
                         "(refused before parsing, no date, or no acknowledgement code); nothing is stored"}},
    openapi_extra={"requestBody": SUBMISSION_BODY})
async def record_submission(request: Request, principal: SubmissionRecorder, case_id: DbId, now: Now,
                            jurisdiction: Jurisdiction = None) -> Response:
    """Record that the expedited report reached a regulator; the reporting-clock job reads it.

    JSON (`SubmissionIn`): accepted on `submitted_date`. XML: the regulator's ICH ACK, read leniently
    (gateway ACKs often fail their own schema): CA/AA records the submission as accepted on the ACK's
    date (ACK.M.4) and stops the clock; CR/AR records it as rejected with the regulator's reason, and
    the clock keeps running until a later ACK accepts it."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in XML_TYPES:
        return await _record_ack(request, principal, case_id, jurisdiction, now)
    try:
        body = SubmissionIn.model_validate_json(await request.body() or b"null")
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors(include_url=False, include_input=False, include_context=False)]) from None

    def store():
        with session_scope(app_engine(request)) as session:
            response = Response(status_code=201)
            row = _record(session, principal, _visible_case(session, principal, case_id), body, "accepted", None,
                          now, response)
            return SubmissionPublic.model_validate(row), response.status_code

    public, status = await run_in_threadpool(store)
    return Response(public.model_dump_json(), status_code=status, media_type="application/json")


def _record(session: Session, principal: Principal, case: Case, body: SubmissionIn, status: str, reason: str | None,
            now: dt.datetime, response: Response) -> RegulatorySubmission:
    if body.submitted_date > now.date():
        raise InvalidInput.one(("body", "submitted_date"), "is in the future")
    if body.submitted_date < case.first_received:
        raise InvalidInput.one(("body", "submitted_date"), f"is before the case was received ({case.first_received})")
    regulators = set(session.exec(
        select(ProductApproval.jurisdiction).join(CaseDrug, CaseDrug.product_id == ProductApproval.product_id)
        .where(CaseDrug.case_version_id == case.latest_version_id)
    ).all())
    if body.jurisdiction not in regulators:
        raise InvalidInput.one(("body", "jurisdiction"), f"none of the case's products is approved by {body.jurisdiction!r}; "
                               f"one of {sorted(regulators)}")
    existing = session.exec(select(RegulatorySubmission).where(
        RegulatorySubmission.case_id == case.id, RegulatorySubmission.jurisdiction == body.jurisdiction)).first()
    after = {**body.model_dump(), "status": status, "reason": reason}
    if existing is not None and existing.status == "accepted":
        if existing.submitted_date == body.submitted_date and status == "accepted":
            response.status_code = 200
            return existing
        raise Conflict(f"a submission to {body.jurisdiction} on {existing.submitted_date} is already recorded as accepted")
    if existing is not None:  # a rejected submission is superseded by the next one
        before = {"submitted_date": existing.submitted_date.isoformat(), "status": existing.status}
        for k, v in {**body.model_dump(), "status": status, "reason": reason}.items():
            setattr(existing, k, v)
        row = existing
    else:
        before = None
        row = RegulatorySubmission(case_id=case.id, recorded_by=principal.user_id, created_at=now, status=status,
                                   reason=reason, **body.model_dump())
    session.add(row)
    session.flush()
    audit.record(session, actor_id=principal.user_id, actor=principal.username, entity_type="report", entity_id=case.id,
                 action="submitted_to_regulator" if status == "accepted" else "rejected_by_regulator",
                 before=before, after=after, now=now)
    session.commit()
    return row


@router.post("/{case_id}/submissions/ack", response_model=SubmissionPublic, status_code=201, responses={
    200: {"description": "This acceptance was already recorded"},
    422: {"description": "Not an ICH acknowledgement (refused before parsing, or no acknowledgement code)"}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/xml": {"schema": {"type": "string"}}}}})
async def record_regulator_ack(request: Request, principal: SubmissionRecorder, case_id: DbId, now: Now,
                               jurisdiction: Jurisdiction = None) -> Response:
    """The same as POST .../submissions with the ACK as body (kept for clients of the first version)."""
    return await _record_ack(request, principal, case_id, jurisdiction, now)


async def _record_ack(request: Request, principal: Principal, case_id: int, jurisdiction: str | None,
                      now: dt.datetime) -> Response:
    from pv_service.e2b.ack import verdict_for

    verdict, named = verdict_for(await request.body(), get_settings().e2b_max_bytes)
    jurisdiction = jurisdiction or named
    if jurisdiction is None:
        raise InvalidInput.one(("query", "jurisdiction"), "the ACK's sender (ACK.M.2) names no regulator the "
                               "service knows (ZZFDA, NMPA): give the jurisdiction")

    def store():
        with session_scope(app_engine(request)) as session:
            case = _visible_case(session, principal, case_id)
            ids = {case.sender_case_id} | set(session.exec(select(CaseVersion.safety_report_id).where(
                CaseVersion.case_id == case.id, CaseVersion.safety_report_id.is_not(None))).all())
            accepted, date, reference, reason = verdict(ids)
            body = SubmissionIn(jurisdiction=jurisdiction, submitted_date=date, reference=reference)
            response = Response(status_code=201)
            row = _record(session, principal, case, body, "accepted" if accepted else "rejected", reason, now, response)
            return SubmissionPublic.model_validate(row), response.status_code

    public, status = await run_in_threadpool(store)
    return Response(public.model_dump_json(), status_code=status, media_type="application/json")


@router.get("/{case_id}/submissions", response_model=list[SubmissionPublic])
def list_submissions(session: SessionDep, principal: DataReader, case_id: DbId):
    case = _visible_case(session, principal, case_id)
    return session.exec(select(RegulatorySubmission).where(RegulatorySubmission.case_id == case.id)
                        .order_by(RegulatorySubmission.id)).all()
