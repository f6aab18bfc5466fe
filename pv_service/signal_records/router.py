"""Signal records: notes and attachments without a status change, the current step's due date,
and the assessment report (PDF) of a closed signal."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, File, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from pv_service.alerting import service as alerting
from pv_service.auth.principal import Principal, SessionDep, require
from pv_service.common.errors import InvalidInput
from pv_service.common.types import DbId
from pv_service.common.vocab import Role
from pv_service.core.deps import Now
from pv_service.signal_records import records, service

router = APIRouter(prefix="/v1/alerts", tags=["signal records"])
SafetyOfficer = Annotated[Principal, Depends(require(Role.safety_officer))]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)


class NotePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    alert_id: int
    at: dt.datetime
    author: str
    text: str


class AttachmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    alert_id: int
    at: dt.datetime
    author: str
    filename: str
    content_type: str
    size: int
    sha256: str


class StepDuePublic(BaseModel):
    status: str
    start: dt.date
    due: dt.date
    days_left: int
    overdue: bool
    basis: str


class SignalRecordPublic(BaseModel):
    alert_id: int
    status: str
    step_due: StepDuePublic | None
    notes: list[NotePublic]
    attachments: list[AttachmentPublic]
    report_available: bool


@router.get("/{alert_id}/record", response_model=SignalRecordPublic)
def signal_record(session: SessionDep, principal: SafetyOfficer, alert_id: DbId, now: Now):
    alert = alerting.visible_alert(session, principal, alert_id)
    service.signal_only(alert)
    due = records.current_due(alert, now)
    return SignalRecordPublic(
        alert_id=alert.id, status=alert.status, report_available=alert.status == "closed",
        step_due=StepDuePublic(**vars(due), overdue=due.overdue) if due else None,
        notes=[NotePublic.model_validate(n) for n in service.notes(session, alert.id)],
        attachments=[AttachmentPublic.model_validate(a) for a in service.attachments(session, alert.id)])


@router.post("/{alert_id}/notes", response_model=NotePublic, status_code=201,
             responses={409: {"description": "Not a signal alert"}})
def add_note(session: SessionDep, principal: SafetyOfficer, alert_id: DbId, body: NoteIn, now: Now):
    alert = alerting.visible_alert(session, principal, alert_id)
    if not body.text.strip():
        raise InvalidInput.one(("body", "text"), "is blank")
    note = service.add_note(session, principal, alert, body.text.strip(), now)
    session.commit()
    return NotePublic.model_validate(note)


@router.post("/{alert_id}/attachments", response_model=AttachmentPublic, status_code=201,
             responses={409: {"description": "Not a signal alert, or too many attachments"}})
async def add_attachment(session: SessionDep, principal: SafetyOfficer, alert_id: DbId, now: Now,
                         file: Annotated[UploadFile, File(description="PDF, PNG, JPEG, text, CSV, XLSX or DOCX")]):
    data = await file.read(service.MAX_ATTACHMENT_BYTES + 1)
    alert = alerting.visible_alert(session, principal, alert_id)
    row = service.add_attachment(session, principal, alert, file.filename, file.content_type or "", data, now)
    session.commit()
    return AttachmentPublic.model_validate(row)


@router.get("/{alert_id}/attachments/{attachment_id}", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def get_attachment(session: SessionDep, principal: SafetyOfficer, alert_id: DbId, attachment_id: DbId):
    alert = alerting.visible_alert(session, principal, alert_id)
    return records.download(service.attachment(session, alert.id, attachment_id))


@router.get("/{alert_id}/report.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}, 409: {"description": "The signal is not closed"}})
def assessment_report(session: SessionDep, principal: SafetyOfficer, alert_id: DbId, now: Now):
    alert = alerting.visible_alert(session, principal, alert_id)
    body, name = records.report_pdf(session, alert, now)
    return Response(body, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'})
