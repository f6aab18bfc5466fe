"""A refused write inside submit_many rolls back to its savepoint: rows it wrote before the error
are gone, the rest of the caller's transaction stays usable (on PostgreSQL an error without a
savepoint would leave the whole transaction aborted)."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from pv_service.auth.models import Organization
from pv_service.auth.principal import Principal
from pv_service.cases import intake_sql

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


def test_a_refused_write_rolls_back_to_its_savepoint(session, world, monkeypatch):
    def failing_write(conn, plan, principal, now):
        conn.execute(sa.insert(Organization.__table__).values(name="written then refused", kind="clinic",
                                                              country="CN", created_at=now))
        conn.execute(sa.insert(Organization.__table__).values(id=world.clinic_a.id, name="duplicate key",
                                                              kind="clinic", country="CN", created_at=now))

    monkeypatch.setattr(intake_sql, "_write", failing_write)
    principal = Principal(user_id=world.clinic.user.id, username="clinic-a", role="clinic", organization_id=world.clinic_a.id)
    with pytest.raises(IntegrityError):
        intake_sql.submit_many(session, principal, [], NOW, _retry=False)
    names = session.execute(sa.select(Organization.name)).scalars().all()  # fails if the transaction aborted
    assert "written then refused" not in names and "Clinic A" in names
