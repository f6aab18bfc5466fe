"""Alert lifecycles through the API: legal steps, 409 for illegal ones, who/when/why recorded."""
from __future__ import annotations

import pytest

from pv_service.alerting.models import Alert
from pv_service.alerting.reconcile import AlertSpec, reconcile
from pv_service.alerting.workflow import IllegalTransition, check_transition, priority
from tests.conftest import NOW


@pytest.fixture
def signal_alert(session, products):
    alert = Alert(key="signal:CART-1:T-cell lymphoma", type="signal", status="new", severity="high", priority=80,
                  title="T-cell lymphoma after CART-1", subject_type="pair", subject_id=None,
                  product_id=products["cart"].id, detail={"n": 1}, first_raised_at=NOW, last_seen_at=NOW)
    session.add(alert)
    session.commit()
    return alert


def step(client, actor, alert_id, to, comment="because", action=None):
    body = {"to": to, "comment": comment} | ({"action": action} if action else {})
    return client.post(f"/v1/alerts/{alert_id}/transition", json=body, headers=actor.headers)


def test_signal_goes_through_validation_assessment_and_closure(client, world, signal_alert):
    s = world.safety
    for to in ("validation", "validated", "assessment", "confirmed"):
        r = step(client, s, signal_alert.id, to, f"moving to {to}")
        assert r.status_code == 200, r.text
    r = step(client, s, signal_alert.id, "closed", "label updated", action="label_change")
    assert r.status_code == 200
    detail = r.json()
    assert detail["status"] == "closed" and detail["resolution"] == "label_change"
    transitions = [(e["from_status"], e["to_status"], e["actor"], e["comment"]) for e in detail["events"]]
    assert transitions[0] == ("new", "validation", "safety", "moving to validation")
    assert transitions[-1] == ("confirmed", "closed", "safety", "label updated")
    audit = client.get("/v1/audit", params={"entity_type": "alert", "entity_id": signal_alert.id},
                       headers=s.headers).json()["items"]
    assert [a["after"]["status"] for a in audit] == ["validation", "validated", "assessment", "confirmed", "closed"]


def test_illegal_steps_are_409_and_change_nothing(client, world, signal_alert):
    s = world.safety
    assert step(client, s, signal_alert.id, "confirmed").status_code == 409
    step(client, s, signal_alert.id, "validation")
    step(client, s, signal_alert.id, "refuted", "duplicate reports")
    r = step(client, s, signal_alert.id, "closed", "no", action="label_change")
    assert r.status_code == 409 and "no_action" in r.json()["detail"]
    assert step(client, s, signal_alert.id, "closed", "refuted").status_code == 409  # needs an action
    assert client.get(f"/v1/alerts/{signal_alert.id}", headers=s.headers).json()["status"] == "refuted"
    r = client.post(f"/v1/alerts/{signal_alert.id}/transition", json={"to": "closed"}, headers=s.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "comment"]


def test_only_safety_officers_move_alerts_and_scopes_hold(client, world, signal_alert):
    for actor in (world.mah, world.clinic, world.admin):
        assert step(client, actor, signal_alert.id, "validation").status_code == 403
    assert client.get(f"/v1/alerts/{signal_alert.id}", headers=world.mah.headers).status_code == 200
    assert client.get(f"/v1/alerts/{signal_alert.id}", headers=world.other_mah.headers).status_code == 404
    assert client.get("/v1/alerts", headers=world.clinic.headers).json()["items"] == []


def test_assignment_needs_a_safety_officer(client, world, signal_alert):
    r = client.post(f"/v1/alerts/{signal_alert.id}/assign", json={"assignee_id": world.clinic.user.id},
                    headers=world.safety.headers)
    assert r.status_code == 422
    r = client.post(f"/v1/alerts/{signal_alert.id}/assign", json={"assignee_id": world.safety.user.id},
                    headers=world.safety.headers)
    assert r.status_code == 200 and r.json()["assignee_id"] == world.safety.user.id
    listed = client.get("/v1/alerts", params={"assignee_id": world.safety.user.id}, headers=world.safety.headers)
    assert [a["id"] for a in listed.json()["items"]] == [signal_alert.id]


def test_reconcile_is_idempotent_and_closes_alerts_whose_cause_is_gone(session, products):
    spec = lambda key: AlertSpec(key=f"followup:{key}", type="followup", severity="medium", title=key,
                                 subject_type="treatment", subject_id=1, product_id=products["cart"].id)
    assert reconcile(session, "followup", "followup:", [spec("a"), spec("b")], NOW)["raised"] == 2
    again = reconcile(session, "followup", "followup:", [spec("a"), spec("b")], NOW)
    assert again == {"raised": 0, "refreshed": 2, "reopened": 0, "closed": 0}
    gone = reconcile(session, "followup", "followup:", [spec("a")], NOW)
    assert gone["closed"] == 1
    back = reconcile(session, "followup", "followup:", [spec("a"), spec("b")], NOW)
    assert back["reopened"] == 1
    assert len(session.exec(__import__("sqlmodel").select(Alert)).all()) == 2


def test_queue_is_sorted_by_priority_and_counted_by_status(client, session, world, products):
    for i, p in enumerate((10.0, 90.0, 50.0)):
        session.add(Alert(key=f"k{i}", type="followup", status="open", severity="low", priority=p, title=f"t{i}",
                          subject_type="treatment", product_id=products["cart"].id, first_raised_at=NOW, last_seen_at=NOW))
    session.commit()
    items = client.get("/v1/alerts", headers=world.safety.headers).json()["items"]
    assert [a["priority"] for a in items] == [90.0, 50.0, 10.0]
    counts = client.get("/v1/alerts/counts", headers=world.safety.headers).json()
    assert counts == [{"type": "followup", "status": "open", "count": 3}]


def test_pure_rules():
    with pytest.raises(IllegalTransition):
        check_transition("followup", "open", "closed", None)
    check_transition("followup", "open", "acknowledged", None)
    with pytest.raises(IllegalTransition):
        check_transition("deadline", "resolved", "open", None)
    # DME with one serious case outranks a strong but non-serious statistical signal.
    dme = priority(serious_fraction=1.0, designated_medical_event=True, eb05=None, ror_lower=None, n=1, is_new=True)
    stat = priority(serious_fraction=0.0, designated_medical_event=False, eb05=8.0, ror_lower=None, n=10, is_new=True)
    assert dme == pytest.approx(35 + 25 + 10 + 0.5) and stat == pytest.approx(25 + 10 + 5)
    assert dme > stat
