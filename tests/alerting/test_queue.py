"""The triaged queue: priority that never falls while a signal is open, new evidence since the last
review, views and their counts, unreviewed signals first, my alerts, bulk steps (audited,
compare-and-set, all or nothing), and the follow-up roll-up's pure rule."""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from pv_service.alerting import queue as alert_queue
from pv_service.alerting.models import Alert, AlertEvent
from pv_service.alerting.workflow import cases_since_review, escalated_priority, unreviewed
from pv_service.audit.models import AuditRecord
from pv_service.followup.rollup import Item, rollup_specs
from pv_service.signals.job import apply_specs
from tests.conftest import NOW
from tests.web.helpers import csrf_of, make_alert, signed_in


# ---- pure rules

def test_escalated_priority_keeps_the_higher_while_open():
    assert escalated_priority(80.0, 72.5, still_open=True) == 80.0  # aged: kept
    assert escalated_priority(80.0, 91.0, still_open=True) == 91.0  # new evidence: raised
    assert escalated_priority(80.0, 40.0, still_open=False) == 40.0  # closed: recomputed
    assert escalated_priority(None, 40.0, still_open=True) == 40.0


def test_cases_since_review():
    assert cases_since_review(5, None) is None and unreviewed(5, None)
    assert cases_since_review(5, 5) == 0 and not unreviewed(5, 5)
    assert cases_since_review(7, 5) == 2 and unreviewed(7, 5)
    assert cases_since_review(3, 5) == 0  # a nullified case is no new evidence


def test_rollup_one_item_per_clinic_and_product_worst_first():
    items = [Item(1, 10, 100, 7, "window_open", "D28", "2024-02-07"), Item(1, 10, 100, 7, "missed", "M3", "2024-04-10"),
             Item(2, 11, 100, 7, "lost"), Item(3, 12, 200, 7, "overdue", "D28", "2024-02-07"),
             Item(4, 13, 100, 8, "window_open", "M1", "2024-02-10")]
    specs = {s.key: s for s in rollup_specs(items, {100: "Clinic A", 200: "Clinic B"}, {7: "CART-1", 8: "MSC-1"},
                                            {10: "ps-10", 11: "ps-11", 12: "ps-12", 13: "ps-13"})}
    assert set(specs) == {"followup:clinic:100:7", "followup:clinic:200:7", "followup:clinic:100:8"}
    a = specs["followup:clinic:100:7"]
    # lost outranks missed; the title counts each kind
    assert (a.severity, a.priority) == ("high", 45.0)
    assert a.title == "Follow-up at Clinic A (CART-1): 1 missed, 1 lost to follow-up, 1 due"
    assert a.detail["counts"] == {"lost": 1, "missed": 1, "overdue": 0, "window_open": 1}
    assert [p["pseudonym"] for p in a.detail["patients"]] == ["ps-10", "ps-11"]
    assert a.detail["patients"][0]["timepoints"] == [
        {"timepoint": "D28", "status": "window_open", "due_date": "2024-02-07"},
        {"timepoint": "M3", "status": "missed", "due_date": "2024-04-10"}]
    assert (specs["followup:clinic:200:7"].severity, specs["followup:clinic:100:8"].severity) == ("medium", "low")
    assert (a.subject_type, a.subject_id) == ("clinic", 100)


@pytest.mark.parametrize("alert_type,key,view", [
    ("signal", "signal:pt:X:1", "signals"), ("job_failed", "job:x", "data_quality"),
    ("followup", "followup:plan:3", "data_quality"), ("followup", "followup:clinic:1:2", "followup"),
    ("reporting_clock", "clock:1:FDA", "reporting_clocks"), ("deadline", "deadline:obligation:1", "deadlines"),
])
def test_view_of_matches_the_sql_condition(session, alert_type, key, view):
    alert = make_alert(session, key=key, type=alert_type)
    assert alert_queue.view_of(alert_type, key) == view
    found = {name for name in alert_queue.VIEW_NAMES
             if session.exec(select(Alert.id).where(alert_queue.view_condition(name), Alert.id == alert.id)).first()}
    assert found == {"all", view}


# ---- the signal job's priority

def _dme_spec(product_id: int, n: int, serious_fraction: float = 1.0) -> dict:
    return {"key": "signal:dme:CART-1:T-cell malignancies", "designated": True, "product_id": product_id,
            "title": "T-cell malignancies after CART-1: designated medical event", "severity": "critical",
            "detail": {"product": "CART-1", "event": "T-cell malignancies", "n": n, "measures": {},
                       "rule": "designated_medical_event", "criteria_met": ["first case"],
                       "serious_fraction": serious_fraction, "pt_codes": ["10042971"]}}


def test_critical_dme_alert_does_not_fall_when_a_case_arrives(session, rules, products):
    """The issue's case: raised at n=1, a second (less serious) case arrives the next night."""
    pid = products["cart"].id
    apply_specs(session, [_dme_spec(pid, 1)], rules.signals, NOW)
    alert = session.exec(select(Alert).where(Alert.type == "signal")).one()
    first = alert.priority
    assert first == pytest.approx(35 + 25 + 10 + 0.5)  # DME, all serious, novelty, one case
    apply_specs(session, [_dme_spec(pid, 2, serious_fraction=0.5)], rules.signals, NOW)
    assert alert.priority >= first  # before: 35 + 12.5 + 0 + 1 = 48.5, a fall of 22
    # reviewed at n=2: the next run computes without novelty, still no fall
    alert.reviewed_n = 2
    apply_specs(session, [_dme_spec(pid, 2, serious_fraction=0.5)], rules.signals, NOW)
    assert alert.priority == first
    # a third case after the review is new evidence: novelty counts again, and the count term rises
    apply_specs(session, [_dme_spec(pid, 3)], rules.signals, NOW)
    assert alert.priority == pytest.approx(35 + 25 + 10 + 1.5)


# ---- the page

@pytest.fixture
def queue(session, products):
    cart = products["cart"].id
    return {
        "low_signal": make_alert(session, key="signal:pt:CART-1:1", priority=5.0, product_id=cart,
                                 detail={"n": 3}),
        "reviewed": make_alert(session, key="signal:pt:CART-1:2", status="validation", priority=60.0,
                               product_id=cart, detail={"n": 5}),
        "clock": make_alert(session, key="clock:1:FDA", type="reporting_clock", priority=95.0, product_id=cart,
                            severity="critical", subject_type="case", subject_id=1),
        "deadline": make_alert(session, key="deadline:obligation:1", type="deadline", priority=90.0, product_id=cart),
        "followup": make_alert(session, key="followup:clinic:1:1", type="followup", priority=40.0, product_id=cart),
        "plan": make_alert(session, key="followup:plan:1", type="followup", priority=55.0, product_id=cart),
    }


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-alert-id="(\d+)"', html)]


def test_views_counts_and_triage_order(client, session, world, queue):
    signed_in(client, session, world.safety.user)
    q = {k: v.id for k, v in queue.items()}
    html = client.get("/ui/alerts").text
    # the unreviewed signal first although its priority is the lowest; then priority
    assert _ids(html) == [q["low_signal"], q["clock"], q["deadline"], q["reviewed"], q["plan"], q["followup"]]
    counts = dict(re.findall(r'data-view="(\w+)"[^>]*>[^<]*<b>(\d+)</b>', html))
    assert counts == {"all": "6", "signals": "2", "data_quality": "1", "reporting_clocks": "1", "deadlines": "1",
                      "followup": "1"}
    assert _ids(client.get("/ui/alerts", params={"view": "signals"}).text) == [q["low_signal"], q["reviewed"]]
    assert _ids(client.get("/ui/alerts", params={"view": "data_quality"}).text) == [q["plan"]]
    assert _ids(client.get("/ui/alerts", params={"view": "followup"}).text) == [q["followup"]]
    assert client.get("/ui/alerts", params={"view": "bogus"}).status_code == 422
    # the API: the same order and counts
    api = client.get("/v1/alerts", params={"open_only": True}, headers=world.safety.headers).json()["items"]
    assert [a["id"] for a in api] == _ids(html)
    views = client.get("/v1/alerts/views", headers=world.safety.headers).json()
    assert views == {k: int(v) for k, v in counts.items()}
    assert client.get("/v1/alerts/views", headers=world.clinic.headers).json()["all"] == 0


def test_new_evidence_since_last_review_is_marked(client, session, world, queue):
    signed_in(client, session, world.safety.user)
    reviewed = queue["reviewed"]
    reviewed.reviewed_n = 3  # reviewed at 3 cases; it now holds 5
    session.add(reviewed)
    session.commit()
    html = client.get("/ui/alerts", params={"view": "signals"}).text
    assert 'data-evidence="unreviewed">not yet reviewed' in html
    assert 'data-evidence="new">+2 cases since last review' in html
    # a step is a review: the mark goes
    csrf = csrf_of(client)
    r = client.post(f"/ui/alerts/{reviewed.id}/transition", data={"to": "refuted", "comment": "no",
                                                                 "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    session.refresh(reviewed)
    assert reviewed.reviewed_n == 5 and reviewed.status_since == NOW
    assert "since last review" not in client.get("/ui/alerts", params={"view": "signals"}).text


def test_bulk_acknowledge_resolve_assign_audited(client, session, world, queue):
    signed_in(client, session, world.safety.user)
    q = {k: v.id for k, v in queue.items()}
    csrf = csrf_of(client)

    def bulk(ids, **data):
        return client.post("/ui/alerts/bulk", data={"alert_id": ids, "csrf_token": csrf, **data},
                           follow_redirects=False)

    r = bulk([q["clock"], q["deadline"]], operation="acknowledge", comment="seen, on it")
    assert r.status_code == 303 and "done=acknowledge%3A2" in r.headers["location"]
    session.expire_all()
    assert {session.get(Alert, q[k]).status for k in ("clock", "deadline")} == {"acknowledged"}
    events = session.exec(select(AlertEvent).where(AlertEvent.alert_id == q["clock"], AlertEvent.kind == "transition")).all()
    assert [(e.actor, e.to_status, e.comment) for e in events] == [("safety", "acknowledged", "seen, on it")]
    assert session.exec(select(AuditRecord).where(AuditRecord.entity_type == "alert", AuditRecord.entity_id == q["clock"],
                                                  AuditRecord.action == "transition")).first() is not None
    # a signal cannot be acknowledged: nothing changes, not even the follow-up item ticked with it
    r = bulk([q["followup"], q["low_signal"]], operation="resolve", comment="done")
    assert r.status_code == 409 and "Nothing was changed" in r.text and f"alert {q['low_signal']}" in r.text
    session.expire_all()
    assert session.get(Alert, q["followup"]).status == "open"
    # a comment is required for steps
    assert bulk([q["followup"]], operation="resolve", comment=" ").status_code == 422
    # assignment: to me, then "my alerts"
    assert bulk([q["followup"], q["low_signal"]], operation="assign_me").status_code == 303
    mine = client.get("/ui/alerts", params={"mine": "1"}).text
    assert sorted(_ids(mine)) == sorted([q["followup"], q["low_signal"]])
    assert bulk([q["followup"]], operation="assign", assignee_id=str(world.clinic.user.id)).status_code == 422
    assert bulk([q["followup"]], operation="unassign").status_code == 303
    assert _ids(client.get("/ui/alerts", params={"mine": "1"}).text) == [q["low_signal"]]
    # the form's token is required
    assert client.post("/ui/alerts/bulk", data={"alert_id": [q["plan"]], "operation": "resolve", "comment": "x"},
                       follow_redirects=False).status_code == 403
    assert bulk([], operation="resolve", comment="x").status_code == 422


def test_bulk_refuses_an_alert_that_moved_since_the_page(client, session, world, queue):
    """A ticked alert a job resolved after the page was drawn: the bulk step refuses it and changes nothing."""
    signed_in(client, session, world.safety.user)
    csrf = csrf_of(client)
    plan = queue["plan"]
    page_saw = session.get(Alert, plan.id)
    session.exec(sa_update(plan.id))
    session.commit()
    r = client.post("/ui/alerts/bulk", data={"alert_id": [queue["followup"].id, page_saw.id], "operation": "resolve",
                                             "comment": "done", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 409 and "resolved" in r.text
    session.expire_all()
    assert session.get(Alert, queue["followup"].id).status == "open"


def sa_update(alert_id: int):
    import sqlalchemy as sa

    return sa.update(Alert).where(Alert.id == alert_id).values(status="resolved", resolution="cause_gone")
