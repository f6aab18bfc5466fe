"""Reference safety information and expectedness, on both databases (issue 16).

CART-1 is approved by the FDA and the NMPA. Its labels (codes of the demo's synthetic dictionary):
  US PI v1 from 2025-01-01 lists CRS (PT 96000001); US PI v2 from 2025-06-01 lists CRS and ICANS
  (PT 96000002); China label from 2025-01-01 lists ICANS only.
Worked by hand, a case of CRS + ICANS is:
  received 2024-12-31 (before any label): no_label in both jurisdictions;
  received 2025-03-01: FDA CRS listed / ICANS unlisted, NMPA CRS unlisted / ICANS listed;
  received 2025-06-01 (the day v2 takes effect): FDA both listed, NMPA as before.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from pv_service.alerting.models import Alert
from pv_service.audit.models import AuditRecord
from pv_service.jobs.definitions import JOBS
from pv_service.jobs.runner import run_job
from pv_service.products.models import ProductApproval
from pv_service.rsi.service import assess_pending
from tests.api.conftest import register, report_payload, treat
from tests.conftest import NOW

CRS = {"pt_code": "96000001", "pt_name": "Cytokine release syndrome"}
ICANS = {"pt_code": "96000002", "pt_name": "Immune effector cell-associated neurotoxicity syndrome"}


def label(jurisdiction, effective_from, *codes, version="v1"):
    return {"jurisdiction": jurisdiction, "version_label": version, "effective_from": effective_from,
            "source": "test label", "terms": [{"kind": "pt", "code": c} for c in codes]}


@pytest.fixture
def approved(session, products):
    for j in ("FDA", "NMPA"):
        session.add(ProductApproval(product_id=products["cart"].id, jurisdiction=j, approval_date=dt.date(2024, 1, 1),
                                    approval_type="full", indication="r/r LBCL"))
    session.commit()
    return products["cart"]


@pytest.fixture
def labelled(client, world, approved):
    url = f"/v1/products/{approved.id}/rsi"
    for body in (label("FDA", "2025-01-01", "96000001"), label("FDA", "2025-06-01", "96000001", "96000002", version="v2"),
                 label("NMPA", "2025-01-01", "96000002")):
        r = client.post(url, json=body, headers=world.safety.headers)
        assert r.status_code == 201, r.text
    return approved


def report(client, world, key, received, reactions, serious=True, report_type="spontaneous"):
    p = register(client, world.clinic, f"P-{key}")
    t = treat(client, world.clinic, p["id"], "CART-1", "2024-06-01")
    body = report_payload(p["id"], t["id"], case_id=key, received_date=received, report_type=report_type)
    body["reactions"] = [{**r, "onset_date": "2024-06-05", "outcome": "recovered",
                          "seriousness": {"hospitalisation": True} if serious else {}} for r in reactions]
    r = client.post("/v1/reports", json=body, headers=world.clinic.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def expectedness(client, world, case_id):
    r = client.get(f"/v1/reports/{case_id}/expectedness", headers=world.safety.headers)
    assert r.status_code == 200, r.text
    return {(x["pt_code"], x["jurisdiction"]): x["expectedness"] for x in r.json()}


def test_label_versions_apply_from_their_date_per_jurisdiction(client, session, world, labelled):
    before = report(client, world, "E-1", "2024-12-31", [CRS, ICANS])
    during = report(client, world, "E-2", "2025-03-01", [CRS, ICANS])
    on_v2 = report(client, world, "E-3", "2025-06-01", [CRS, ICANS])
    counts = assess_pending(session, NOW)
    session.commit()
    assert counts["assessed"] == 12  # 3 cases x 2 reactions x 2 jurisdictions
    assert expectedness(client, world, before) == {
        ("96000001", "FDA"): "no_label", ("96000002", "FDA"): "no_label",
        ("96000001", "NMPA"): "no_label", ("96000002", "NMPA"): "no_label"}
    assert expectedness(client, world, during) == {
        ("96000001", "FDA"): "listed", ("96000002", "FDA"): "unlisted",
        ("96000001", "NMPA"): "unlisted", ("96000002", "NMPA"): "listed"}
    assert expectedness(client, world, on_v2) == {
        ("96000001", "FDA"): "listed", ("96000002", "FDA"): "listed",
        ("96000001", "NMPA"): "unlisted", ("96000002", "NMPA"): "listed"}
    rows = client.get(f"/v1/reports/{on_v2}/expectedness", headers=world.safety.headers).json()
    fda_icans = next(x for x in rows if x["pt_code"] == "96000002" and x["jurisdiction"] == "FDA")
    assert fda_icans["label"] == "US PI v2" and fda_icans["matched"] == "PT 96000002"
    # Stored at receipt: a later label version does not change an assessment already made.
    assert assess_pending(session, NOW) == {"assessed": 0}


def test_a_follow_up_is_judged_on_its_own_receipt_date(client, session, world, labelled):
    case_id = report(client, world, "F-1", "2025-03-01", [ICANS])
    p = client.get(f"/v1/reports/{case_id}", headers=world.safety.headers).json()
    body = report_payload(p["patient_id"], p["latest"]["drugs"][0]["treatment_id"], case_id="F-1", version=1,
                          received_date="2025-03-01", latest_info_date="2025-07-01")
    body["reactions"] = [{**ICANS, "onset_date": "2024-06-05", "outcome": "recovered",
                          "seriousness": {"hospitalisation": True}}]
    assert client.post("/v1/reports", json=body, headers=world.clinic.headers).status_code == 201
    assess_pending(session, NOW)
    session.commit()
    rows = client.get(f"/v1/reports/{case_id}/expectedness", headers=world.safety.headers).json()
    fda = {x["version"]: x["expectedness"] for x in rows if x["jurisdiction"] == "FDA"}
    assert fda == {0: "unlisted", 1: "listed"}  # version 1 arrived under US PI v2


def test_labels_are_kept_by_safety_officers_checked_and_audited(client, session, world, approved):
    url = f"/v1/products/{approved.id}/rsi"
    for actor in (world.clinic, world.mah, world.admin):
        assert client.post(url, json=label("FDA", "2025-01-01", "96000001"), headers=actor.headers).status_code == 403
    bad = client.post(url, json=label("EMA", "2025-01-01", "96000001"), headers=world.safety.headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "jurisdiction"]
    hlt = client.post(url, json={**label("FDA", "2025-01-01"), "terms": [{"kind": "hlt", "code": "97000201"}]},
                      headers=world.safety.headers)
    assert hlt.status_code == 422 and hlt.json()["detail"][0]["loc"] == ["body", "terms", 0, "kind"]
    scoped = client.post(url, json={**label("FDA", "2025-01-01"), "terms": [{"kind": "pt", "code": "1", "scope": "narrow"}]},
                         headers=world.safety.headers)
    assert scoped.status_code == 422
    ok = client.post(url, json=label("FDA", "2025-01-01", "96000001"), headers=world.safety.headers)
    assert ok.status_code == 201 and ok.json()["document"] == "US PI" and ok.json()["effective_until"] is None
    again = client.post(url, json=label("FDA", "2025-01-01", "96000002"), headers=world.safety.headers)
    assert again.status_code == 409
    client.post(url, json=label("FDA", "2025-06-01", "96000002", version="v2"), headers=world.safety.headers)
    listed = client.get(url, headers=world.safety.headers).json()
    assert [(v["version_label"], v["effective_until"]) for v in listed] == [("v1", "2025-05-31"), ("v2", None)]
    # The MAH reads its own product's labels; another MAH's product is not found.
    assert client.get(url, headers=world.mah.headers).status_code == 200
    assert client.get(url, headers=world.other_mah.headers).status_code == 404
    assert client.get(url, headers=world.clinic.headers).status_code == 403
    audit = session.exec(select(AuditRecord).where(AuditRecord.entity_type == "rsi_version")).all()
    assert [(a.action, a.after["effective_from"]) for a in audit] == [("created", "2025-01-01"), ("created", "2025-06-01")]


def _clock_alerts(session):
    session.expire_all()
    return {a.key: a for a in session.exec(select(Alert).where(Alert.type == "reporting_clock"))}


def test_a_labelled_serious_event_gets_no_15_day_fda_report(client, session, db, world, labelled):
    """Day 0 = 2025-03-01; 15 days = 2025-03-16. CRS is listed in the US PI then, ICANS is not."""
    listed = report(client, world, "C-1", "2025-03-01", [CRS])
    unlisted = report(client, world, "C-2", "2025-03-01", [ICANS])
    moment = dt.datetime(2025, 3, 12, 3, tzinfo=dt.timezone.utc)
    result = run_job(db, JOBS["reporting-clocks"], lambda: moment)
    assert result.outcome == "succeeded", result.error
    alerts = _clock_alerts(session)
    assert f"clock:{listed}:FDA" not in alerts  # periodic report, no alert
    fda = alerts[f"clock:{unlisted}:FDA"]
    assert (fda.detail["due_date"], fda.detail["unexpected"]) == ("2025-03-16", True)
    # China: serious (listed or not) within 15 days.
    assert alerts[f"clock:{listed}:NMPA"].detail["due_date"] == "2025-03-16"
    assert alerts[f"clock:{unlisted}:NMPA"].detail["due_date"] == "2025-03-16"
