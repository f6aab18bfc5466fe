"""The audit trail: append, seal into a hash chain, verify.

hash(n) = SHA-256(hash(n-1) + canonical JSON of record n's content), with hash(0) = 64 zeros.
Changing, inserting or removing any sealed record breaks every later hash.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from pv_service.audit.models import AuditRecord

GENESIS = "0" * 64
_SEAL_LOCK = 0x5056_4155_4449_5400  # "PVAUDIT"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    return value


def record(session: Session, *, actor_id: int | None, actor: str, entity_type: str, entity_id: int, action: str,
           before: dict[str, Any] | None, after: dict[str, Any] | None, now: dt.datetime) -> None:
    session.execute(sa.insert(AuditRecord.__table__).values(
        at=now, actor_id=actor_id, actor=actor, entity_type=entity_type, entity_id=entity_id, action=action,
        before=_jsonable(before), after=_jsonable(after),
    ))


def content_digest(prev_hash: str, seq: int, row) -> str:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.timezone.utc)
    content = {
        "seq": seq, "at": at.astimezone(dt.timezone.utc).isoformat(), "actor_id": row.actor_id,
        "actor": row.actor, "entity_type": row.entity_type, "entity_id": row.entity_id, "action": row.action,
        "before": row.before, "after": row.after,
    }
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + blob).encode()).hexdigest()


def seal(session: Session) -> int:
    """Chain every unsealed record, in id order, after the last sealed one. Returns how many."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SEAL_LOCK})
    t = AuditRecord.__table__
    last = session.execute(sa.select(t.c.seq, t.c.hash).where(t.c.seq.is_not(None)).order_by(t.c.seq.desc()).limit(1)).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    pending = session.execute(sa.select(t).where(t.c.seq.is_(None)).order_by(t.c.id)).all()
    for row in pending:
        seq += 1
        digest = content_digest(prev, seq, row)
        session.execute(sa.update(t).where(t.c.id == row.id).values(seq=seq, prev_hash=prev, hash=digest))
        prev = digest
    return len(pending)


@dataclass
class Verification:
    ok: bool
    checked: int
    unsealed: int
    first_bad_seq: int | None = None
    reason: str | None = None


def verify(session: Session) -> Verification:
    t = AuditRecord.__table__
    prev, expected_seq, checked = GENESIS, 1, 0
    for row in session.execute(sa.select(t).where(t.c.seq.is_not(None)).order_by(t.c.seq)):
        if row.seq != expected_seq:
            return Verification(False, checked, 0, expected_seq, f"record {expected_seq} is missing")
        if row.prev_hash != prev:
            return Verification(False, checked, 0, row.seq, "previous hash does not match")
        if content_digest(prev, row.seq, row) != row.hash:
            return Verification(False, checked, 0, row.seq, "content does not match its hash")
        prev, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
    unsealed = session.execute(sa.select(sa.func.count()).select_from(t).where(t.c.seq.is_(None))).scalar_one()
    return Verification(True, checked, unsealed)
