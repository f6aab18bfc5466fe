"""Moving an alert's status atomically: check and move in one conditional UPDATE.

Reading the status, checking the step and then writing it lets two requests (or a request
and a job) that read the same status both move it. The UPDATE names the status it expects,
so exactly one of them changes the row; the others change nothing and learn it. On
PostgreSQL a second UPDATE waits for the first's row lock and then re-checks the condition
on the committed row; SQLite runs one writer at a time.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from pv_service.alerting.models import Alert


def compare_and_set(session: Session, alert: Alert, expected_status: str, *conditions, **values: Any) -> bool:
    """Set `values` on `alert` if its stored status is still `expected_status` (and `conditions` hold).

    True if this call moved it (the object then carries the new values); False if it had
    moved meanwhile (nothing written).
    """
    session.flush()
    result = session.execute(
        sa.update(Alert).where(Alert.id == alert.id, Alert.status == expected_status, *conditions).values(**values)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    for key, value in values.items():
        set_committed_value(alert, key, value)
    return True
