"""The audit trail's head (count + last hash), signed and kept outside the database.

A keyed chain exposes any edit, but not the removal of the last records (or of all of
them): what remains is a valid, shorter chain. The head, exported periodically to a file
the database owner cannot reach, fixes how far the trail reached: verify then refuses a
trail with fewer records than the head or another hash at the head's record. Records
after the head are newer; the window between two exports is what this cannot cover.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import logging

from sqlmodel import Session

from pv_service.audit.chain import GENESIS, LAST, Verification, audit_key, verify

log = logging.getLogger(__name__)

FILE_NAME = "audit-head.json"


class HeadError(ValueError):
    pass


@dataclass(frozen=True)
class Head:
    seq: int  # records in the trail (the last one's seq)
    hash: str  # the last record's hash
    at: str  # when it was taken (ISO, UTC)
    signature: str  # HMAC-SHA256 of the three, with the audit key

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _sign(seq: int, hash_: str, at: str, key: bytes) -> str:
    return hmac.new(key, f"pv-audit-head|{seq}|{hash_}|{at}".encode(), hashlib.sha256).hexdigest()


def current(session: Session, now: dt.datetime, key: bytes | None = None) -> Head:
    last = session.execute(LAST).first()
    seq, hash_ = (last.seq, last.hash) if last else (0, GENESIS)
    at = now.astimezone(dt.timezone.utc).isoformat()
    return Head(seq, hash_, at, _sign(seq, hash_, at, key or audit_key()))


def parse(text: str, key: bytes | None = None) -> Head:
    """A head from its JSON line; HeadError unless well formed and signed with this key."""
    try:
        data = json.loads(text)
        head = Head(seq=data["seq"], hash=data["hash"], at=data["at"], signature=data["signature"])
    except (ValueError, KeyError, TypeError) as exc:
        raise HeadError(f"not an audit head: {exc}") from None
    if not (isinstance(head.seq, int) and head.seq >= 0 and all(isinstance(v, str) for v in
                                                                 (head.hash, head.at, head.signature))):
        raise HeadError("not an audit head: seq must be a count, hash, at and signature text")
    if not hmac.compare_digest(_sign(head.seq, head.hash, head.at, key or audit_key()), head.signature):
        raise HeadError("the audit head's signature does not match (altered, or another PV_AUDIT_KEY)")
    return head


def write(head: Head, directory: Path) -> Path:
    """Replace the head file atomically (a reader never sees half a head)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / FILE_NAME
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".audit-head-")
    with os.fdopen(fd, "w") as f:
        f.write(head.line() + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target


def read(directory: Path | None, key: bytes | None = None) -> Head | None:
    """The exported head in `directory`, or None when none was exported there yet."""
    if directory is None:
        return None
    path = directory / FILE_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise HeadError(f"{path}: {exc}") from None
    try:
        return parse(text, key)
    except HeadError as exc:
        raise HeadError(f"{path}: {exc}") from None


def export(session: Session, now: dt.datetime, directory: Path | None) -> Head:
    """Take the head; write it to `directory` if one is configured."""
    head = current(session, now)
    if directory is not None:
        write(head, directory)
    return head


def verify_against_exported(session: Session):
    """Verify the chain and that it reaches the head exported to PV_AUDIT_HEAD_DIR (if any)."""
    from pv_service.core.settings import get_settings

    try:
        head = read(get_settings().audit_head_dir)
    except HeadError as exc:
        return Verification(False, 0, 0, None, str(exc))
    return verify(session, head)


def export_job(session: Session, now: dt.datetime) -> dict:
    """The scheduled export: the head to PV_AUDIT_HEAD_DIR and to the log."""
    from pv_service.core.settings import get_settings

    directory = get_settings().audit_head_dir
    head = export(session, now, directory)
    log.info("audit head: %s", head.line())
    return {"audit_head_seq": head.seq, "written": directory is not None}
