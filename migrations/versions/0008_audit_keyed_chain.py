"""the audit trail re-chained with HMAC-SHA256 (PV_AUDIT_KEY), every record sealed; one milestone per kind

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01 09:40:00

Until now the chain was plain SHA-256 (anyone able to write the table could recompute it)
and records waited unsealed for a job. This checks the old chain as it stands (and refuses
to go on if it is broken: investigate first, a re-chain would hide it), then re-chains
every record, sealed ones in seq order and then the unsealed ones in id order, with the
keyed hash, and (if there was any) appends a record saying so (algorithm, count and last hash before). From
here every record is sealed as it is written.

Milestones get a unique (obligation, kind): concurrent first writes had stored duplicates.
Of duplicates the newest row (highest id) is kept; every write's values are in the audit trail.
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

from pv_service.audit import chain
from pv_service.audit.triggers import create_statements, drop_statements
from pv_service.core.db import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

AUDIT = sa.table("audit_record", *(sa.column(c) for c in (
    "id", "seq", "prev_hash", "hash", "actor_id", "actor", "entity_type", "entity_id", "action")),
    sa.column("at", UTCDateTime()), sa.column("before", sa.JSON()), sa.column("after", sa.JSON()))


def _rows(conn, where):
    return [dict(r._mapping) for r in conn.execute(sa.select(AUDIT).where(where).order_by(AUDIT.c.seq, AUDIT.c.id))]


def _one_milestone_per_kind(conn) -> None:
    m = sa.table("obligation_milestone", sa.column("id"), sa.column("obligation_id"), sa.column("kind"))
    keep = sa.select(sa.func.max(m.c.id)).group_by(m.c.obligation_id, m.c.kind)
    conn.execute(sa.delete(m).where(m.c.id.not_in(keep)))
    with op.batch_alter_table("obligation_milestone") as batch:
        batch.create_unique_constraint("uq_obligation_milestone_obligation_id", ["obligation_id", "kind"])


def upgrade() -> None:
    conn = op.get_bind()
    _one_milestone_per_kind(conn)
    sealed, unsealed = _rows(conn, AUDIT.c.seq.is_not(None)), _rows(conn, AUDIT.c.seq.is_(None))
    prev = chain.GENESIS
    for expected, row in enumerate(sealed, start=1):
        if (row["seq"] != expected or row["prev_hash"] != prev
                or chain.legacy_digest(prev, row["seq"], row) != row["hash"]):
            raise RuntimeError(f"audit trail broken at record {expected} before migration 0008: it is not re-chained, "
                               "so the evidence stays as found; investigate, then restore the trail from a backup")
        prev = row["hash"]
    old = {"algorithm": "sha256", "records": len(sealed), "unsealed": len(unsealed), "last_hash": prev}
    key = chain.audit_key()
    dialect = conn.dialect.name
    for s in drop_statements(dialect):
        op.execute(s)
    content = ("at", "actor_id", "actor", "entity_type", "entity_id", "action", "before", "after")
    rows = [{k: r[k] for k in content} for r in sealed + unsealed]
    # Clear first, then set: the unique seq would otherwise clash midway.
    conn.execute(sa.update(AUDIT).values(seq=None, prev_hash=None, hash=None))
    for r, new in zip(sealed + unsealed, chain.chain_rows(0, chain.GENESIS, rows, key)):
        conn.execute(sa.update(AUDIT).where(AUDIT.c.id == r["id"])
                     .values(seq=new["seq"], prev_hash=new["prev_hash"], hash=new["hash"]))
    for s in create_statements(dialect):
        op.execute(s)
    if not rows:
        return  # a new database: nothing was re-chained, nothing to say
    now = dt.datetime.now(dt.timezone.utc)
    chain.append(conn, [dict(at=now, actor_id=None, actor="migration 0008", entity_type="audit_trail", entity_id=0,
                             action="rechained", before=old,
                             after={"algorithm": "hmac-sha256", "records": len(rows)})], key)


def downgrade() -> None:
    # The milestone constraint could go, but not the chain back: refuse the whole step.
    raise NotImplementedError("the keyed chain cannot be turned back into the unkeyed one without losing its guarantee")
