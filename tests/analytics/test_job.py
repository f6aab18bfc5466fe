"""The sequential-monitoring job on the export's cohort (see test_api_incidence for the figures):
one look per product and monitored group a day, an alert on crossing, nothing duplicated."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlmodel import Session, select

from pv_service.alerting.models import Alert, AlertEvent
from pv_service.analytics.job import sequential_monitoring
from pv_service.analytics.models import SequentialLook
from pv_service.jobs.definitions import JOBS, current_rules
from pv_service.jobs.runner import run_job

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


def _rules(min_events: int):
    rules = current_rules()
    ar = rules.analytics
    seq = ar.sequential.model_copy(update={"min_events": min_events})
    return dataclasses.replace(rules, sections={**rules.sections, "analytics": ar.model_copy(update={"sequential": seq})})


def test_looks_are_recorded_and_a_crossing_raises_one_alert(db, cohort):
    cart = cohort["products"]["cart"]
    with Session(db) as s:
        counts = sequential_monitoring(s, NOW, _rules(4))
        s.commit()
    assert counts["looks"] >= 1 and counts["signalled"] == 0  # one T-cell event: M = 4 not reached
    with Session(db) as s:
        looks = {x.event_group: x for x in s.exec(select(SequentialLook).where(SequentialLook.product_id == cart.id))}
        assert sorted(looks) == ["Acute myeloid leukaemia", "T-cell malignancies"]  # the groups with a rate
        assert looks["Acute myeloid leukaemia"].observed == 0
        look = looks["T-cell malignancies"]
        assert (look.event_group, look.observed, look.look_date) == ("T-cell malignancies", 1, NOW.date())
        assert look.expected == pytest.approx(2311 / 365.25 * 0.903e-5, rel=1e-6)
        assert not look.signalled and look.critical_value == pytest.approx(2.92156132978567, abs=1e-7)
        assert s.exec(select(Alert).where(Alert.key.startswith("sequential:"))).first() is None

    # with M = 1 the single event crosses: at its date (2026-04-20) about 5.0e-5 events were expected
    # (the accrued part of the 5.71e-5 by the as-of date), LLR = log(1 / E) - 1 + E = 8.9 >= 3.468
    with Session(db) as s:
        counts = sequential_monitoring(s, NOW, _rules(1))
        s.commit()
    assert counts["signalled"] == 1 and counts["raised"] == 1
    with Session(db) as s:
        assert len(s.exec(select(SequentialLook).where(SequentialLook.product_id == cart.id)).all()) == 2  # same day
        alert = s.exec(select(Alert).where(Alert.key == "sequential:CART-1:T-cell malignancies")).one()
        assert alert.type == "signal" and alert.status == "new" and alert.severity == "critical"
        assert alert.detail["rule"] == "maxsprt" and alert.detail["n"] == 1 and 8.8 < alert.detail["max_llr"] < 9.0
        assert alert.detail["first_signal_date"] == "2026-04-20"
    with Session(db) as s:
        again = sequential_monitoring(s, NOW + dt.timedelta(days=1), _rules(1))
        s.commit()
        assert again["raised"] == 0 and again.get("unchanged") == 1
        assert len(s.exec(select(SequentialLook).where(SequentialLook.product_id == cart.id)).all()) == 4
        alert = s.exec(select(Alert).where(Alert.key == "sequential:CART-1:T-cell malignancies")).one()
        assert len(s.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id)).all()) == 1


def test_the_scheduled_job_runs(db, cohort):
    run = run_job(db, JOBS["sequential-monitoring"], lambda: NOW)
    assert run.outcome == "succeeded", run.error
    assert run.counts["looks"] >= 1


def test_a_sequential_alert_lists_its_cases(db, cohort, client, world):
    """The MaxSPRT alert names the group's PT codes, so its case series is P2's T-cell lymphoma case (C3)."""
    with Session(db) as s:
        sequential_monitoring(s, NOW, _rules(1))
        s.commit()
        alert = s.exec(select(Alert).where(Alert.key == "sequential:CART-1:T-cell malignancies")).one()
    r = client.get(f"/v1/alerts/{alert.id}/case-series", headers=world.safety.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [row["sender_case_id"] for row in body["items"]] == ["C3"]
    assert body["agreement"]["agrees"] is True
