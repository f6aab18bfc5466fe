"""The audit trail: append sealed records to a keyed hash chain, verify it.

hash(n) = HMAC-SHA256(key, hash(n-1) + canonical JSON of record n's content), hash(0) = 64 zeros.
The key (PV_AUDIT_KEY) is held by the service, never by the database, so whoever can write
the tables (even their owner) cannot recompute a chain after editing, inserting or removing
records. Removing the *last* records or all of them leaves a valid shorter chain: the
exported head (`pv_service.audit.head`) catches that.

Every record is sealed in the transaction that writes it: appends are serialized (on
PostgreSQL by a transaction-scoped advisory lock, taken just before commit; SQLite
serializes writers anyway), read the last record and chain after it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from pv_service.audit.models import AuditRecord

GENESIS = "0" * 64
SEAL_LOCK = 0x5056_4155_4449_5400  # "PVAUDIT": pg_advisory_xact_lock key serializing appends
_PENDING = "pv_audit_pending"
_T = AuditRecord.__table__
_CONTENT = ("at", "actor_id", "actor", "entity_type", "entity_id", "action", "before", "after")


def audit_key() -> bytes:
    from pv_service.core.settings import get_settings

    return get_settings().audit_key.encode()


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


def _blob(seq: int, row: Mapping[str, Any]) -> str:
    at = row["at"]
    at = at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)
    content = {k: row[k] for k in _CONTENT} | {"seq": seq, "at": at.astimezone(dt.timezone.utc).isoformat()}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)


def content_digest(prev_hash: str, seq: int, row: Mapping[str, Any], key: bytes) -> str:
    """The keyed hash of record `seq` (a mapping of its columns) chained after `prev_hash`."""
    return hmac.new(key, (prev_hash + _blob(seq, row)).encode(), hashlib.sha256).hexdigest()


def legacy_digest(prev_hash: str, seq: int, row: Mapping[str, Any]) -> str:
    """The unkeyed SHA-256 chain of migrations 0002-0006 (only migration 0008 checks it)."""
    return hashlib.sha256((prev_hash + _blob(seq, row)).encode()).hexdigest()


def chain_rows(last_seq: int, last_hash: str, rows: list[dict[str, Any]], key: bytes) -> list[dict[str, Any]]:
    """`rows` (column dicts) with seq, prev_hash and hash, chained after (last_seq, last_hash). Pure."""
    out, seq, prev = [], last_seq, last_hash
    for row in rows:
        seq += 1
        digest = content_digest(prev, seq, row, key)
        out.append({**row, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    return out


LAST = sa.select(_T.c.seq, _T.c.hash).where(_T.c.seq.is_not(None)).order_by(_T.c.seq.desc()).limit(1)
# A write that changes nothing, so SQLite takes its write lock before the last record is read.
_SQLITE_WRITE_LOCK = sa.update(_T).where(sa.false()).values(seq=_T.c.seq)


def _take_lock(conn) -> tuple[int, str]:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEAL_LOCK})
    else:
        conn.execute(_SQLITE_WRITE_LOCK)
    last = conn.execute(LAST).first()  # a statement after the lock: its snapshot sees the last append
    return (last.seq, last.hash) if last else (0, GENESIS)


def append(conn, rows: list[dict[str, Any]], key: bytes | None = None) -> None:
    """Insert `rows` sealed, in this transaction (held serialized until it ends)."""
    if not rows:
        return
    rows = [{**r, "before": _jsonable(r.get("before")), "after": _jsonable(r.get("after"))} for r in rows]
    conn.execute(sa.insert(_T), chain_rows(*_take_lock(conn), rows, key or audit_key()))


def record(session: Session, *, actor_id: int | None, actor: str, entity_type: str, entity_id: int, action: str,
           before: dict[str, Any] | None, after: dict[str, Any] | None, now: dt.datetime) -> None:
    """Queue an audit record; it is written sealed when the session commits (or on `flush_pending`).

    Queued rather than written now so the append lock is held for the commit only, not for the
    rest of a long job.
    """
    session.connection()  # begins the transaction the record belongs to
    txn = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((txn, dict(
        at=now, actor_id=actor_id, actor=actor, entity_type=entity_type, entity_id=entity_id, action=action,
        before=before, after=after,
    )))


def flush_pending(session: Session) -> int:
    """Write the session's queued audit records now, sealed; how many."""
    rows = [row for _, row in session.info.pop(_PENDING, [])]
    if rows:
        session.flush()
        append(session.connection(), rows)
    return len(rows)


@event.listens_for(OrmSession, "before_commit")
def _write_pending(session: Session) -> None:
    flush_pending(session)


@event.listens_for(OrmSession, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction) -> None:
    """A rolled-back transaction (or savepoint) takes the records queued in it along."""
    def inside(txn) -> bool:
        while txn is not None:
            if txn is previous_transaction:
                return True
            txn = txn.parent
        return False

    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [(txn, row) for txn, row in pending if not inside(txn)]


@dataclass
class Verification:
    ok: bool
    checked: int
    unsealed: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head_seq: int | None = None  # the exported head checked against, if any


def verify(session: Session, head=None, key: bytes | None = None) -> Verification:
    """Recompute the chain; with an exported `head` (pv_service.audit.head.Head), check the trail reaches it."""
    key = key or audit_key()
    prev, expected_seq, checked, at_head = GENESIS, 1, 0, None
    for row in session.execute(sa.select(_T).where(_T.c.seq.is_not(None)).order_by(_T.c.seq)):
        m = row._mapping
        if row.seq != expected_seq:
            return Verification(False, checked, 0, expected_seq, f"record {expected_seq} is missing")
        if row.prev_hash != prev:
            return Verification(False, checked, 0, row.seq, "previous hash does not match")
        if content_digest(prev, row.seq, m, key) != row.hash:
            return Verification(False, checked, 0, row.seq, "content does not match its hash")
        if head is not None and row.seq == head.seq:
            at_head = row.hash
        prev, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
    unsealed = session.execute(sa.select(sa.func.count()).select_from(_T).where(_T.c.seq.is_(None))).scalar_one()
    head_seq = head.seq if head is not None else None
    if unsealed:
        # Every record is sealed as it is written: an unsealed one was put there behind the service.
        return Verification(False, checked, unsealed, checked + 1, f"{unsealed} records were never sealed", head_seq)
    if head is not None and head.seq > checked:
        return Verification(False, checked, 0, checked + 1,
                            f"the exported head has {head.seq} records, the trail only {checked}: records removed",
                            head_seq)
    if head is not None and head.seq and at_head != head.hash:
        return Verification(False, checked, 0, head.seq, "record differs from the exported head", head_seq)
    return Verification(True, checked, 0, head_seq=head_seq)
