"""Migration 0008 checks the old unkeyed chain and re-chains every record with the keyed hash."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from pv_service.audit import chain
from pv_service.audit.models import AuditRecord
from pv_service.core.migrate import upgrade
from tests.conftest import NOW
from tests.core.test_migrations import empty_engine  # noqa: F401


def _legacy_trail(engine, sealed: int, unsealed: int, break_at: int | None = None) -> list[str]:
    """Records as 0002-0006 wrote them: a plain SHA-256 chain, then some not sealed yet."""
    rows = [dict(at=NOW, actor_id=None, actor="old", entity_type="user", entity_id=i, action="created",
                 before=None, after={"n": i}) for i in range(sealed + unsealed)]
    prev, hashes = chain.GENESIS, []
    with engine.begin() as conn:
        for seq, row in enumerate(rows[:sealed], start=1):
            digest = chain.legacy_digest(prev, seq, row)
            stored = {**row, "actor": "mallory"} if seq == break_at else row
            conn.execute(sa.insert(AuditRecord.__table__).values(**stored, seq=seq, prev_hash=prev, hash=digest))
            prev = digest
            hashes.append(digest)
        for row in rows[sealed:]:
            conn.execute(sa.insert(AuditRecord.__table__).values(**row))
    return hashes


def test_an_intact_unkeyed_trail_is_rechained_keyed_and_says_so(empty_engine):  # noqa: F811
    upgrade(empty_engine, "0006")
    old = _legacy_trail(empty_engine, sealed=3, unsealed=2)
    upgrade(empty_engine)
    with Session(empty_engine) as s:
        result = chain.verify(s)
        assert result.ok and result.checked == 6 and result.unsealed == 0
        got = s.execute(sa.select(AuditRecord.__table__).order_by(AuditRecord.seq)).all()
    assert [r.entity_id for r in got[:5]] == [0, 1, 2, 3, 4]  # sealed ones in seq order, then the rest by id
    assert got[0].hash != old[0]
    assert (got[5].entity_type, got[5].action) == ("audit_trail", "rechained")
    assert got[5].before == {"algorithm": "sha256", "records": 3, "unsealed": 2, "last_hash": old[-1]}


def test_a_broken_unkeyed_trail_stops_the_migration_and_stays_as_found(empty_engine):  # noqa: F811
    upgrade(empty_engine, "0006")
    _legacy_trail(empty_engine, sealed=3, unsealed=0, break_at=2)
    with pytest.raises(RuntimeError, match="broken at record 2 before migration 0008"):
        upgrade(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit_record WHERE actor = 'mallory'")).scalar_one() == 1
