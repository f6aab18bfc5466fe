"""Migration 0016 moves preferred-term signal alerts raised under a name to the term's code, so an
upgraded database does not raise a second alert for a signal already under review."""
from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from pv_service.core.migrate import upgrade
from tests.core.test_migrations import _rows_at_0004, empty_engine  # noqa: F401

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)


def _alert(conn, key: str, event: str) -> None:
    conn.execute(sa.text(
        "INSERT INTO alert (key, type, status, severity, priority, title, subject_type, product_id, detail, "
        "first_raised_at, last_seen_at) VALUES (:key, 'signal', 'under_review', 'high', 1.0, 't', 'pair', 1, "
        ":detail, :now, :now)"), {"key": key, "detail": f'{{"event": "{event}", "n": 4}}', "now": NOW})


def test_name_keyed_signal_alerts_move_to_their_code(empty_engine):  # noqa: F811
    upgrade(empty_engine, "0004")
    _rows_at_0004(empty_engine)  # one reaction: PT code X, name Y
    upgrade(empty_engine, "0015")
    with empty_engine.begin() as conn:
        _alert(conn, "signal:pt:P: y ", " y ")  # the name as a clinic typed it: case and spaces change nothing
        _alert(conn, "signal:pt:P:Unheard of", "Unheard of")  # no stored code: left as it was
        _alert(conn, "signal:dme:P:T-cell malignancies", "T-cell malignancies")  # groups are keyed by name
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT key, detail FROM alert ORDER BY id")).all()
    assert [r.key for r in rows] == ["signal:pt:P:X", "signal:pt:P:Unheard of", "signal:dme:P:T-cell malignancies"]
    moved = rows[0].detail if isinstance(rows[0].detail, dict) else json.loads(rows[0].detail)
    assert moved["event"] == "X" and moved["event_name"] == "y" and moved["n"] == 4
