"""Jobs walked through years with a moving clock: alerts raised, escalated, resolved, never duplicated."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

from pv_service.alerting.models import Alert
from pv_service.demo import dictionary as demo_dictionary
from pv_service.jobs.definitions import JOBS
from pv_service.jobs.models import JobRun
from pv_service.jobs.runner import run_job
from pv_service.meddra.loader import load
from pv_service.products.models import ConfirmatoryObligation, ObligationMilestone
from tests.api.conftest import register, report_payload, treat
from tests.conftest import NOW, concurrently


def at(day: str, hour: int = 3):
    moment = dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.timezone.utc)
    return lambda: moment


def run(db, name, day, hour=3):
    result = run_job(db, JOBS[name], at(day, hour))
    assert result is not None and result.outcome == "succeeded", result and result.error
    return result.counts


def alerts(session, type_):
    session.expire_all()
    return {a.key: a for a in session.exec(select(Alert).where(Alert.type == type_))}


def visit(client, actor, treatment_id, day, **kw):
    r = client.post("/v1/followup-contacts", json={"treatment_id": treatment_id, "contact_date": day, **kw},
                    headers=actor.headers)
    assert r.status_code == 201, r.text


def _timepoints(alert) -> dict[str, str]:
    return {tp["timepoint"]: tp["status"] for p in alert.detail["patients"] for tp in p["timepoints"]}


def test_followup_alerts_follow_the_schedule_through_the_years(client, session, db, world, products):
    # CAR-T plan: D28 (+-7, grace 14), M3 ... yearly; infusion 2024-01-10. One item per clinic and product.
    p = register(client, world.clinic, "LTFU-1")
    t = treat(client, world.clinic, p["id"], "CART-1", "2024-01-10")
    key = f"followup:clinic:{world.clinic_a.id}:{products['cart'].id}"
    # 2024-02-05: D28 (due 2024-02-07) window 01-31..02-14 is open -> low "due" item.
    run(db, "followup-compliance", "2024-02-05")
    a = alerts(session, "followup")[key]
    assert (a.status, a.severity, _timepoints(a)) == ("open", "low", {"D28": "window_open"})
    assert (a.subject_type, a.subject_id) == ("clinic", world.clinic_a.id)
    # A second run the same day changes nothing.
    assert run_job(db, JOBS["followup-compliance"], at("2024-02-05", 4)) is None  # same daily tick: claimed
    again = run_job(db, JOBS["followup-compliance"], at("2024-02-05", 5), trigger="manual").counts
    assert (again["raised"], again["refreshed"]) == (0, 1)
    # The visit on 2024-02-06 fulfils D28: nothing is due, the item resolves itself.
    visit(client, world.clinic, t["id"], "2024-02-06")
    run(db, "followup-compliance", "2024-02-08")
    assert alerts(session, "followup")[key].status == "resolved"
    assert alerts(session, "followup")[key].resolution == "cause_gone"
    # M3 is due 2024-04-10; nobody comes. After its window it is overdue, after the grace period missed:
    # the same item reopens and escalates in place.
    run(db, "followup-compliance", "2024-04-30")
    a = alerts(session, "followup")[key]
    assert (a.status, a.severity, _timepoints(a)) == ("open", "medium", {"M3": "overdue"})
    run(db, "followup-compliance", "2024-07-01")
    a = alerts(session, "followup")[key]
    assert (a.severity, _timepoints(a)) == ("high", {"M3": "missed", "M6": "window_open"})
    assert a.detail["counts"] == {"lost": 0, "missed": 1, "overdue": 0, "window_open": 1}
    assert len(alerts(session, "followup")) == 1  # one item, escalated in place
    # Death reported in 2024-08: the schedule stops; the missed M3 stays on record, nothing after the death.
    client.post("/v1/followup-contacts", json={"treatment_id": t["id"], "kind": "death", "contact_date": "2024-08-01"},
                headers=world.clinic.headers)
    run(db, "followup-compliance", "2025-06-01")
    a = alerts(session, "followup")[key]
    assert a.status == "open" and _timepoints(a) == {"M3": "missed"}


def test_followup_rolled_up_per_clinic_and_product_with_pseudonyms(client, session, db, world, products):
    """Two patients of clinic A and one of clinic B on CART-1, one of clinic A on MSC-1: three items."""
    from pv_service.patients.models import Patient

    pa = [register(client, world.clinic, f"A-{i}") for i in range(2)]
    pb = register(client, world.other_clinic, "B-1")
    for p in pa:
        treat(client, world.clinic, p["id"], "CART-1", "2024-01-10")
    treat(client, world.other_clinic, pb["id"], "CART-1", "2024-01-10")
    treat(client, world.clinic, pa[0]["id"], "MSC-1", "2024-01-10")
    run(db, "followup-compliance", "2024-07-01")
    items = alerts(session, "followup")
    cart, msc = products["cart"].id, products["msc"].id
    assert set(items) == {f"followup:clinic:{world.clinic_a.id}:{cart}", f"followup:clinic:{world.clinic_b.id}:{cart}",
                          f"followup:clinic:{world.clinic_a.id}:{msc}"}
    a = items[f"followup:clinic:{world.clinic_a.id}:{cart}"]
    assert a.detail["n_patients"] == 2 and a.detail["clinic"] == "Clinic A"
    pseudonyms = {p.pseudonym for p in session.exec(select(Patient).where(Patient.clinic_id == world.clinic_a.id))}
    assert {p["pseudonym"] for p in a.detail["patients"]} <= pseudonyms
    assert "A-0" not in str(a.detail) and "A-1" not in str(a.detail)  # the clinic's own ids never appear
    assert a.priority < 50  # below every signal of any weight the DME or seriousness gives
    # Each clinic sees its own items only.
    mine = client.get("/v1/alerts", params={"type": "followup"}, headers=world.clinic.headers).json()["items"]
    assert {i["key"] for i in mine} == {f"followup:clinic:{world.clinic_a.id}:{cart}",
                                        f"followup:clinic:{world.clinic_a.id}:{msc}"}
    theirs = client.get("/v1/alerts", params={"type": "followup"}, headers=world.other_clinic.headers).json()["items"]
    assert [i["key"] for i in theirs] == [f"followup:clinic:{world.clinic_b.id}:{cart}"]


def test_patient_lost_after_two_missed_yearly_visits(client, session, db, world, products):
    p = register(client, world.clinic, "LOST-1")
    t = treat(client, world.clinic, p["id"], "CART-1", "2020-03-01")
    for day in ("2020-03-29", "2020-06-01", "2020-09-01", "2021-03-01"):  # D28, M3, M6, M12 on time
        visit(client, world.clinic, t["id"], day)
    key = f"followup:clinic:{world.clinic_a.id}:{products['cart'].id}"
    # Y2 (2022-03-01) and Y3 (2023-03-01) missed -> lost by 2023-06 (grace 60 days after the 30-day window).
    run(db, "followup-compliance", "2023-06-01")
    item = alerts(session, "followup")[key]
    assert item.status == "open" and item.severity == "high" and item.detail["counts"]["lost"] == 1
    assert [p["lost"] for p in item.detail["patients"]] == [True]
    # The patient comes back: no longer lost (the missed visits stay listed).
    visit(client, world.clinic, t["id"], "2023-07-01")
    run(db, "followup-compliance", "2023-07-02")
    assert alerts(session, "followup")[key].detail["counts"]["lost"] == 0


def test_confirmatory_deadline_horizons_then_overdue(session, db, products):
    ob = ConfirmatoryObligation(product_id=products["cart"].id, jurisdiction="NMPA", description="confirmatory RCT",
                                due_date=dt.date(2027, 1, 2), created_at=NOW)
    session.add(ob)
    session.flush()
    session.add(ObligationMilestone(obligation_id=ob.id, kind="protocol_agreed", achieved_date=dt.date(2023, 3, 1),
                                    updated_at=NOW))
    session.commit()
    key = f"deadline:obligation:{ob.id}"
    run(db, "confirmatory-deadlines", "2025-06-01")   # 580 days out: no horizon reached
    assert key not in alerts(session, "deadline")
    run(db, "confirmatory-deadlines", "2026-03-01")   # 307 days: within 365 -> low
    assert alerts(session, "deadline")[key].severity == "low"
    run(db, "confirmatory-deadlines", "2026-11-23")   # 40 days: within 90 -> high
    assert alerts(session, "deadline")[key].severity == "high"
    run(db, "confirmatory-deadlines", "2027-01-03")   # passed
    a = alerts(session, "deadline")[key]
    assert (a.severity, a.detail["status"], a.detail["days_remaining"]) == ("critical", "overdue", -1)


def test_death_case_must_be_reported_at_once(client, session, db, world, products):
    from pv_service.products.models import ProductApproval
    session.add(ProductApproval(product_id=products["cart"].id, jurisdiction="NMPA", approval_date=dt.date(2023, 1, 1),
                                approval_type="conditional", indication="r/r LBCL"))
    session.commit()
    p = register(client, world.clinic, "D-1")
    t = treat(client, world.clinic, p["id"], "CART-1", "2026-10-01")
    body = report_payload(p["id"], t["id"], received_date="2026-11-20")
    body["reactions"][0].update(seriousness={"death": True}, outcome="fatal", onset_date="2026-11-18")
    case = client.post("/v1/reports", json=body, headers=world.clinic.headers).json()
    key = f"clock:{case['id']}:NMPA"
    # Day 0 = 2026-11-20; NMPA death: immediately = by the end of the next calendar day (11-21).
    run(db, "reporting-clocks", "2026-11-21")
    a = alerts(session, "reporting_clock")[key]
    assert (a.severity, a.detail["due_date"], a.detail["status"]) == ("high", "2026-11-21", "pending")
    run(db, "reporting-clocks", "2026-11-22")
    assert alerts(session, "reporting_clock")[key].severity == "critical"
    r = client.post(f"/v1/reports/{case['id']}/submissions", json={"jurisdiction": "NMPA", "submitted_date": "2026-11-22"},
                    headers=world.safety.headers)
    assert r.status_code == 201, r.text
    run(db, "reporting-clocks", "2026-11-22", hour=4)
    a = alerts(session, "reporting_clock")[key]
    # Sent one day late: the item closes as such (issue 16), its lateness kept in its history.
    assert (a.status, a.resolution) == ("resolved", "submitted_late")
    from pv_service.alerting.models import AlertEvent
    last = session.exec(select(AlertEvent).where(AlertEvent.alert_id == a.id).order_by(AlertEvent.id.desc())).first()
    assert last.comment == "submitted 2026-11-22, after the due date 2026-11-21"
    bad = client.post(f"/v1/reports/{case['id']}/submissions", json={"jurisdiction": "FDA", "submitted_date": "2026-11-22"},
                      headers=world.safety.headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "jurisdiction"]


def test_designated_medical_event_alerts_on_first_case_and_reopens_on_the_next(client, session, db, world, products):
    load(db, demo_dictionary.directory(), NOW)  # T-cell malignancies are HLTs of the demo dictionary

    def tcl_case(i):
        p = register(client, world.clinic, f"TCL-{i}")
        t = treat(client, world.clinic, p["id"], "CART-1", "2025-01-01")
        body = report_payload(p["id"], t["id"], case_id=f"TCL-{i}", received_date="2026-06-01",
                              transgene_in_tumour="not_tested")
        body["reactions"] = [{"meddra_version": "90.0", "pt_code": "96000025", "pt_name": "T-cell lymphoma",
                              "onset_date": "2026-05-01",
                              "seriousness": {"other_medically_important": True}, "outcome": "not_recovered"}]
        assert client.post("/v1/reports", json=body, headers=world.clinic.headers).status_code == 201

    tcl_case(1)
    counts = run(db, "signal-detection", "2026-11-01")
    key = "signal:dme:CART-1:T-cell malignancies"
    a = alerts(session, "signal")[key]
    assert (a.status, a.severity, a.detail["n"], a.detail["rule"]) == ("new", "critical", 1, "designated_medical_event")
    assert counts["raised"] >= 1
    again = run(db, "signal-detection", "2026-11-02")
    assert again["raised"] == 0 and len([k for k in alerts(session, "signal") if k == key]) == 1
    s = world.safety.headers
    for to, extra in (("validation", {}), ("validated", {}), ("assessment", {}), ("confirmed", {}),
                      ("closed", {"action": "label_change"})):
        assert client.post(f"/v1/alerts/{a.id}/transition", json={"to": to, "comment": "x", **extra},
                           headers=s).status_code == 200
    run(db, "signal-detection", "2026-11-03")
    assert alerts(session, "signal")[key].status == "closed"  # no new evidence: stays closed
    tcl_case(2)
    counts = run(db, "signal-detection", "2026-11-04")
    a = alerts(session, "signal")[key]
    assert counts["reopened"] == 1 and a.status == "new" and a.detail["n"] == 2


@pytest.mark.parametrize("job", ["followup-compliance", "signal-detection"])
def test_two_schedulers_run_a_tick_exactly_once(client, session, db, world, treated, job):
    results = concurrently(lambda: run_job(db, JOBS[job], at("2026-11-23")))
    ran = [r for r in results if r is not None]
    assert len(ran) == 1 and ran[0].outcome == "succeeded"
    with Session(db) as s:
        runs = s.exec(select(JobRun).where(JobRun.job == job)).all()
        assert len(runs) == 1


def test_jobs_api(client, session, world, treated):
    assert client.post("/v1/jobs/followup-compliance/run", headers=world.safety.headers).status_code == 403
    r = client.post("/v1/jobs/followup-compliance/run", params={"as_of": "2025-02-01"}, headers=world.admin.headers)
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    done = client.get(f"/v1/jobs/runs/{run_id}", headers=world.admin.headers).json()
    assert done["outcome"] == "succeeded" and done["as_of"] == "2025-02-01" and done["trigger"] == "manual"
    assert client.get("/v1/jobs/runs", params={"job": "followup-compliance"}, headers=world.safety.headers).json()["items"][0]["id"] == run_id
    assert client.post("/v1/jobs/nope/run", headers=world.admin.headers).status_code == 404
    assert {j["name"] for j in client.get("/v1/jobs", headers=world.admin.headers).json()} == set(JOBS)


def test_same_modality_comparator_runs_one_background_per_modality(client, session, db, world, products, monkeypatch):
    import dataclasses

    from pv_service.jobs import definitions
    from pv_service.signals.models import SignalRun

    rules = definitions.current_rules()
    signals = rules.signals.model_copy(update={"comparator": "same_modality"})
    patched = dataclasses.replace(rules, sections={**rules.sections, "signal_rules": signals})
    monkeypatch.setattr(definitions, "current_rules", lambda: patched)
    for i, code in enumerate(("CART-1", "MSC-1")):
        p = register(client, world.clinic, f"M-{i}")
        t = treat(client, world.clinic, p["id"], code, "2025-01-01")
        client.post("/v1/reports", json=report_payload(p["id"], t["id"], case_id=f"M-{i}"), headers=world.clinic.headers)
    counts = run(db, "signal-detection", "2026-11-01")
    session.expire_all()
    scopes = sorted(tuple(r.params["product_scope"]) for r in session.exec(select(SignalRun)) if r.level == "pt")
    # No designated-medical-event term was reported, so neither background has a group run.
    assert scopes == [("CART-1",), ("MSC-1",)] and len(counts["runs"]) == 2
