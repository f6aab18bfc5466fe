"""Notes and attachments on a signal, recorded without a status change (each in the alert's
history and the audit trail). Attachments are kept in the database: a size limit, an allowlist of
content types checked against the file's first bytes, and a display name cleaned of any path."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata

from sqlalchemy.orm import defer
from sqlmodel import Session, select

from pv_service.alerting.models import Alert, SignalAttachment, SignalNote
from pv_service.alerting.reconcile import log_event
from pv_service.alerting.service import review_values
from pv_service.alerting.workflow import SIGNAL_TYPE
from pv_service.auth.principal import Principal
from pv_service.common.errors import Conflict, InvalidInput, NotFound

MAX_ATTACHMENT_BYTES = 4 * 1024 * 1024  # under the request body limit (PV_MAX_BODY_BYTES, 5 MiB by default)
MAX_ATTACHMENTS = 50  # per signal
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# Allowed types and the first bytes a file of that type starts with (None: UTF-8 text without NUL).
ALLOWED_TYPES: dict[str, tuple[bytes, ...] | None] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "text/plain": None,
    "text/csv": None,
    XLSX: (b"PK\x03\x04",),
    DOCX: (b"PK\x03\x04",),
}
_UNSAFE = re.compile(r"[^\w .()+-]")


def signal_only(alert: Alert) -> None:
    if alert.type != SIGNAL_TYPE:
        raise Conflict(f"notes and attachments belong to signals; alert {alert.id} is a {alert.type} alert")


def clean_filename(name: str | None) -> str:
    """The last path component, NFC, without control or unusual characters; never empty, never a dot file."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = unicodedata.normalize("NFC", base)
    base = _UNSAFE.sub("_", "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")).strip(" .")
    return base[:200] or "attachment"


def check_content(content_type: str, data: bytes) -> str:
    """The allowed media type of `data`, or InvalidInput naming the field and the reason."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in ALLOWED_TYPES:
        raise InvalidInput.one(("body", "file"), f"content type {kind or 'missing'!r} is not allowed; one of "
                               + ", ".join(ALLOWED_TYPES))
    if not data:
        raise InvalidInput.one(("body", "file"), "is empty")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise InvalidInput.one(("body", "file"), f"is {len(data):,} bytes; at most {MAX_ATTACHMENT_BYTES:,}")
    magic = ALLOWED_TYPES[kind]
    if magic is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput.one(("body", "file"), f"is not UTF-8 text, as {kind} must be") from None
        if "\x00" in text:
            raise InvalidInput.one(("body", "file"), f"holds NUL characters: not {kind}")
    elif not data.startswith(magic):
        raise InvalidInput.one(("body", "file"), f"does not start as a {kind} file does")
    return kind


def add_note(session: Session, principal: Principal, alert: Alert, text: str, now: dt.datetime) -> SignalNote:
    signal_only(alert)
    note = SignalNote(alert_id=alert.id, at=now, author_id=principal.user_id, author=principal.username, text=text)
    session.add(note)
    _reviewed(session, alert, now)
    log_event(session, alert, now, "noted", alert.status, alert.status, text, principal.user_id, principal.username)
    session.flush()
    return note


def add_attachment(session: Session, principal: Principal, alert: Alert, filename: str | None, content_type: str,
                   data: bytes, now: dt.datetime) -> SignalAttachment:
    signal_only(alert)
    kind = check_content(content_type, data)
    count = len(session.exec(select(SignalAttachment.id).where(SignalAttachment.alert_id == alert.id)).all())
    if count >= MAX_ATTACHMENTS:
        raise Conflict(f"a signal holds at most {MAX_ATTACHMENTS} attachments")
    digest = hashlib.sha256(data).hexdigest()
    row = SignalAttachment(alert_id=alert.id, at=now, author_id=principal.user_id, author=principal.username,
                           filename=clean_filename(filename), content_type=kind, size=len(data), sha256=digest,
                           content=data)
    session.add(row)
    session.flush()
    _reviewed(session, alert, now)
    log_event(session, alert, now, "attached", alert.status, alert.status,
              f"attachment {row.id}: {row.filename} ({kind}, {len(data):,} bytes, sha256 {digest})",
              principal.user_id, principal.username)
    return row


def _reviewed(session: Session, alert: Alert, now: dt.datetime) -> None:
    for key, value in review_values(alert, now).items():
        setattr(alert, key, value)
    session.add(alert)


def notes(session: Session, alert_id: int) -> list[SignalNote]:
    return list(session.exec(select(SignalNote).where(SignalNote.alert_id == alert_id).order_by(SignalNote.id)).all())


def attachments(session: Session, alert_id: int) -> list[SignalAttachment]:
    """Without their content (listing)."""
    return list(session.exec(select(SignalAttachment).options(defer(SignalAttachment.content))
                             .where(SignalAttachment.alert_id == alert_id).order_by(SignalAttachment.id)).all())


def attachment(session: Session, alert_id: int, attachment_id: int) -> SignalAttachment:
    row = session.exec(select(SignalAttachment).where(SignalAttachment.alert_id == alert_id,
                                                      SignalAttachment.id == attachment_id)).first()
    if row is None:
        raise NotFound("no such attachment on this alert")
    return row
