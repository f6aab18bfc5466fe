"""Issue 15: a clinic's burst of identical reports about one patient makes a signal until the
duplicates are confirmed; the burst raises a data-quality alert at once. Both databases."""
from __future__ import annotations

from sqlmodel import select

from pv_service.alerting.models import Alert, AlertEvent
from pv_service.duplicates.models import DuplicateCluster
from pv_service.signals.dataset import pair_counts
from pv_service.signals.job import signal_detection
from tests.conftest import NOW
from tests.duplicates.conftest import NEUTROPENIA, RULES, register, send, treat

KEY = "signal:pt:CART-1:LOCAL-0100"


def _burst(client, world, n=30):
    p = register(client, world.clinic, "BURST-1", birth_year=1961)
    t = treat(client, world.clinic, p["id"], "CART-1", "2026-04-01")
    return [send(client, world.clinic, p, t, f"BURST-{i}", [NEUTROPENIA]) for i in range(n)]


def _a(session) -> int:
    pairs = pair_counts(session)
    hit = pairs[(pairs["product"] == "CART-1") & (pairs["event"] == "LOCAL-0100")]
    return int(hit["a"].iloc[0]) if len(hit) else 0


def test_burst_alerts_at_once_and_names_the_first_report(client, session, world, msc_neutropenias):
    receipts = _burst(client, world)
    first = receipts[0]["id"]
    assert receipts[0]["possible_duplicate_of"] == []
    assert all(r["possible_duplicate_of"][0] == first for r in receipts[1:])
    alerts = {a.key: a for a in session.exec(select(Alert).where(Alert.type == "data_quality"))}
    identical = [a for k, a in alerts.items() if k.startswith("data_quality:identical:")]
    assert len(identical) == 1 and identical[0].detail["n"] == 30 and identical[0].status == "open"
    patient = [a for k, a in alerts.items() if k.startswith("data_quality:patient:")]
    assert len(patient) == 1 and patient[0].detail["n"] == 30  # > 20 within 30 days (alerts/duplicates.yaml)
    # Raised by the 6th identical report (rule: at most 5), before any job ran.
    events = session.exec(select(AlertEvent).where(AlertEvent.alert_id == identical[0].id)).all()
    assert events[0].kind == "raised"
    # One cluster holds the whole burst, ready for review.
    cluster = session.exec(select(DuplicateCluster)).one()
    body = client.get(f"/v1/duplicates/{cluster.id}", headers=world.safety.headers).json()
    assert len(body["members"]) == 30 and {p["method"] for p in body["pairs"]} == {"content_hash"}
    # The data-quality alert is the safety officers' (not the clinic's, not the MAH's).
    for actor in (world.clinic, world.mah):
        got = client.get("/v1/alerts", params={"type": "data_quality"}, headers=actor.headers).json()["items"]
        assert got == []


def test_the_burst_makes_a_signal_until_confirmed_and_then_the_alert_says_why(client, session, world, msc_neutropenias):
    _burst(client, world)
    assert _a(session) == 30
    signal_detection(session, NOW, RULES)
    session.commit()
    alert = session.exec(select(Alert).where(Alert.key == KEY)).one()
    assert alert.detail["n"] == 30
    cluster = session.exec(select(DuplicateCluster)).one()
    r = client.post(f"/v1/duplicates/{cluster.id}/confirm", json={}, headers=world.safety.headers)
    assert r.status_code == 200, r.text
    assert _a(session) == 1
    result = signal_detection(session, NOW, RULES)
    session.commit()
    session.refresh(alert)
    assert result["below_rule"] >= 1  # this one, and any other pair the burst had skewed
    assert alert.detail["below_rule"] is True and "29 confirmed duplicate(s)" in alert.detail["below_rule_reason"]
    assert alert.status == "new"  # updated, not closed: people decide
    last = session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.id.desc())).first()
    assert last.kind == "updated" and "no longer meets its rule" in last.comment


def test_once_confirmed_the_burst_creates_no_signal(client, session, world, msc_neutropenias):
    _burst(client, world)
    cluster = session.exec(select(DuplicateCluster)).one()
    assert client.post(f"/v1/duplicates/{cluster.id}/confirm", json={}, headers=world.safety.headers).status_code == 200
    signal_detection(session, NOW, RULES)
    session.commit()
    assert session.exec(select(Alert).where(Alert.key == KEY)).first() is None
    # The master is the first report; every duplicate keeps its own dates as received.
    body = client.get(f"/v1/duplicates/{cluster.id}", headers=world.safety.headers).json()
    master = body["master_case_id"]
    assert master == min(m["case_id"] for m in body["members"])
    assert all(m["first_received"] == "2026-06-01" for m in body["members"])
    assert len(body["references"]) == 30 and body["references"][0].endswith(":BURST-0")
