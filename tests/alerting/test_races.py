"""Concurrent moves of one alert: exactly one wins, the others get 409 (both databases).

Each thread has its own session and connection, reads the alert, waits until all have
read it (so every one saw the same status), then moves it and commits: check-then-act on
what it read, as a request that acts on the status a page showed.
"""
from __future__ import annotations

import threading

from sqlmodel import Session, select

from pv_service.alerting import service
from pv_service.alerting.models import Alert, AlertEvent
from pv_service.alerting.reconcile import reconcile
from pv_service.alerting.schemas import TransitionIn
from pv_service.auth.principal import Principal
from pv_service.common.errors import Conflict
from pv_service.common.vocab import Role
from tests.conftest import NOW


def _alert(session, products, type_, status, key="race"):
    alert = Alert(key=f"{type_}:{key}", type=type_, status=status, severity="high", priority=50, title="race",
                  subject_type="pair", subject_id=None, product_id=products["cart"].id, detail={"n": 1},
                  first_raised_at=NOW, last_seen_at=NOW)
    session.add(alert)
    session.commit()
    return alert.id


def _race(db, world, alert_id, targets):
    """Each target moved by its own thread at the same moment; the outcomes (ok or 409) in order."""
    principal = Principal(user_id=world.safety.user.id, username="safety", role=Role.safety_officer,
                          organization_id=world.safety.org_id)
    read = threading.Barrier(len(targets))
    outcomes = [None] * len(targets)

    def move(i, to):
        with Session(db, expire_on_commit=False) as s:
            try:
                alert = service.visible_alert(s, principal, alert_id)
                s.commit()  # as a page read earlier: the connection goes back to the pool, the status stays
                read.wait(timeout=30)
                service.transition(s, principal, alert, TransitionIn(to=to, comment=f"thread {i}"), NOW)
                s.commit()
                outcomes[i] = "ok"
            except Conflict:
                s.rollback()
                outcomes[i] = 409
            except Exception as exc:  # noqa: BLE001 - reported by the assertion
                s.rollback()
                outcomes[i] = repr(exc)

    threads = [threading.Thread(target=move, args=(i, to)) for i, to in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_twenty_concurrent_acknowledgements_one_wins(db, session, world, products):
    alert_id = _alert(session, products, "followup", "open")
    outcomes = _race(db, world, alert_id, ["acknowledged"] * 20)
    assert sorted(outcomes, key=str) == [409] * 19 + ["ok"], outcomes
    session.expire_all()
    events = session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert_id)).all()
    assert [(e.from_status, e.to_status) for e in events] == [("open", "acknowledged")]


def test_validated_and_refuted_at_once_one_wins(db, session, world, products):
    for r in range(3):
        alert_id = _alert(session, products, "signal", "validation", key=f"race-{r}")
        outcomes = _race(db, world, alert_id, ["validated", "refuted"])
        assert sorted(outcomes, key=str) == [409, "ok"], outcomes
        session.expire_all()
        events = session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert_id)).all()
        assert len(events) == 1 and session.get(Alert, alert_id).status == events[0].to_status


def test_a_job_does_not_overwrite_a_move_made_meanwhile(db, session, world, products):
    """The follow-up job resolves an alert whose cause is gone, from what it read: not if a person moved it since."""
    alert_id = _alert(session, products, "followup", "open")
    with Session(db, expire_on_commit=False) as job:
        read = job.exec(select(Alert)).all()  # the job has read the alert as open (and holds it)
        principal = Principal(user_id=world.safety.user.id, username="safety", role=Role.safety_officer,
                              organization_id=world.safety.org_id)
        with Session(db) as person:
            service.transition(person, principal, service.visible_alert(person, principal, alert_id),
                               TransitionIn(to="resolved", comment="done by hand"), NOW)
            person.commit()
        counts = reconcile(job, "followup", "followup:", [], NOW)
        job.commit()
    assert counts["closed"] == 0 and read[0].id == alert_id
    session.expire_all()
    alert = session.get(Alert, alert_id)
    assert (alert.status, alert.resolution) == ("resolved", "resolved_by_user")
