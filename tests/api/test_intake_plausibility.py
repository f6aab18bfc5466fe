"""Intake plausibility (issue 11): what is impossible is refused (422 naming field and reason),
what is only implausible is stored and answered with warnings. Rules: README "Plausibility"."""
from __future__ import annotations

import datetime as dt

import pytest

from pv_service.products.models import ProductApproval
from tests.api.conftest import register, report_payload


def post(client, actor, body):
    return client.post("/v1/reports", json=body, headers=actor.headers)


def batch(client, actor, *bodies):
    r = client.post("/v1/reports/batch", json={"reports": list(bodies)}, headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def only(detail):
    assert len(detail) == 1, detail
    return detail[0]["loc"], detail[0]["msg"]


# ---------------------------------------------------------------- versions
def test_a_version_gap_is_refused_single_and_batch(client, world, treated):
    p, t = treated
    assert post(client, world.clinic, report_payload(p["id"], t["id"])).status_code == 201
    r = post(client, world.clinic, report_payload(p["id"], t["id"], version=3, latest_info_date="2025-03-01"))
    assert r.status_code == 422
    loc, msg = only(r.json()["detail"])
    assert loc == ["body", "version"] and "gap" in msg and "1" in msg
    # batch: 1 then 3 -> 1 accepted, 3 refused the same way; 2 would have been fine
    v1 = report_payload(p["id"], t["id"], version=1, latest_info_date="2025-03-01")
    v3 = report_payload(p["id"], t["id"], version=3, latest_info_date="2025-03-02")
    a, b = batch(client, world.clinic, v1, v3)
    assert a["outcome"] == "created" and b["status"] == 422
    assert b["errors"][0]["loc"] == ["body", "reports", 1, "version"] and "gap" in b["errors"][0]["msg"]


def test_a_new_case_starts_at_version_0(client, world, treated):
    p, t = treated
    r = post(client, world.clinic, report_payload(p["id"], t["id"], case_id="LATE", version=2))
    assert r.status_code == 422 and only(r.json()["detail"])[0] == ["body", "version"]
    # in one batch, 0 then 1 of a new case is fine; 1 before 0 is not
    v0, v1 = (report_payload(p["id"], t["id"], case_id=k, version=v, latest_info_date="2025-03-01")
              for k, v in (("NEW", 0), ("NEW", 1)))
    assert [x["outcome"] for x in batch(client, world.clinic, v0, v1)] == ["created", "created"]
    w1, w0 = (report_payload(p["id"], t["id"], case_id="REV", version=v) for v in (1, 0))
    first, second = batch(client, world.clinic, w1, w0)
    assert first["status"] == 422 and second["outcome"] == "created"


def test_latest_info_date_going_backwards_is_refused(client, world, treated):
    p, t = treated
    assert post(client, world.clinic, report_payload(p["id"], t["id"], latest_info_date="2025-03-01")).status_code == 201
    back = report_payload(p["id"], t["id"], version=1, latest_info_date="2025-02-15")
    r = post(client, world.clinic, back)
    assert r.status_code == 422
    loc, msg = only(r.json()["detail"])
    assert loc == ["body", "latest_info_date"] and "2025-03-01" in msg
    [res] = batch(client, world.clinic, back)
    assert res["status"] == 422 and res["errors"][0]["loc"] == ["body", "reports", 0, "latest_info_date"]
    # the same date is fine (a correction on the same day); so is a later one
    same = report_payload(p["id"], t["id"], version=1, latest_info_date="2025-03-01", narrative="corrected")
    assert post(client, world.clinic, same).status_code == 201
    # in one batch, v2 is judged against v1 of the same batch
    v2 = report_payload(p["id"], t["id"], version=2, latest_info_date="2025-04-01")
    v3 = report_payload(p["id"], t["id"], version=3, latest_info_date="2025-03-20")
    a, b = batch(client, world.clinic, v2, v3)
    assert a["outcome"] == "created" and b["status"] == 422


# ---------------------------------------------------------------- fatal without death: a warning
def test_a_fatal_outcome_not_marked_as_resulting_in_death_is_stored_with_a_warning(client, world, treated):
    """The clocks count a case by its seriousness flags: a fatal reaction marked only non-serious would get
    a non-serious clock without a word."""
    p, t = treated
    body = report_payload(p["id"], t["id"], case_id="FATAL-1")
    body["reactions"][0].update(outcome="fatal", seriousness={})
    r = post(client, world.clinic, body)
    assert r.status_code == 201, r.text
    [w] = r.json()["warnings"]
    assert w["loc"] == ["body", "reactions", 0, "outcome"] and "not marked as resulting in death" in w["msg"]
    body = report_payload(p["id"], t["id"], case_id="FATAL-2")
    body["reactions"][0].update(outcome="fatal", seriousness={"death": True})
    r = post(client, world.clinic, body)
    assert r.status_code == 201 and r.json()["warnings"] == []


# ---------------------------------------------------------------- onset before infusion: a warning
def test_onset_before_the_infusion_is_stored_with_a_warning(client, world, treated):
    p, t = treated  # infused 2025-01-10
    body = report_payload(p["id"], t["id"])
    body["reactions"][0]["onset_date"] = "2025-01-05"
    r = post(client, world.clinic, body)
    assert r.status_code == 201, r.text
    [w] = r.json()["warnings"]
    assert w["loc"] == ["body", "reactions", 0, "onset_date"] and "2025-01-10" in w["msg"]
    assert client.get(f"/v1/reports/{r.json()['id']}", headers=world.clinic.headers).status_code == 200
    body["sender_case_id"] = "B-1"
    [res] = batch(client, world.clinic, body)
    assert res["outcome"] == "created" and res["warnings"][0]["loc"] == ["body", "reports", 0, "reactions", 0, "onset_date"]
    # onset on or after the infusion: no warning
    ok = report_payload(p["id"], t["id"], case_id="OK")
    r = post(client, world.clinic, ok)
    assert r.status_code == 201 and r.json()["warnings"] == []
    assert batch(client, world.clinic, {**ok, "sender_case_id": "OK-B"})[0]["warnings"] == []


# ---------------------------------------------------------------- infusion before approval
@pytest.fixture
def approved(session, products):
    session.add_all([
        ProductApproval(product_id=products["cart"].id, jurisdiction="NMPA", approval_date=dt.date(2024, 6, 1),
                        approval_type="full", indication="r/r LBCL"),
        ProductApproval(product_id=products["cart"].id, jurisdiction="FDA", approval_date=dt.date(2023, 3, 1),
                        approval_type="full", indication="r/r LBCL"),
    ])
    session.commit()


def test_an_infusion_before_the_products_first_approval_is_refused(client, world, products, approved):
    p = register(client, world.clinic)
    body = {"patient_id": p["id"], "product_code": "CART-1", "batch_number": "L-1", "infusion_date": "2023-02-28"}
    r = client.post("/v1/treatments", json=body, headers=world.clinic.headers)
    assert r.status_code == 422
    loc, msg = only(r.json()["detail"])
    assert loc == ["body", "infusion_date"] and "2023-03-01" in msg and "FDA" in msg
    assert client.post("/v1/treatments", json={**body, "infusion_date": "2023-03-01"},
                       headers=world.clinic.headers).status_code == 201


# ---------------------------------------------------------------- visit timepoints
def visit(t, date, timepoint, **kw):
    return {"treatment_id": t["id"], "contact_date": date, "timepoint": timepoint, **kw}


def test_an_unknown_timepoint_is_refused(client, world, treated):
    _, t = treated  # CART-1, car_t_lifelong: D28, M3, M6, M12, Y2..Y15, then Y16, Y17, ... for life
    r = client.post("/v1/followup-contacts", json=visit(t, "2025-05-10", "M4"), headers=world.clinic.headers)
    assert r.status_code == 422
    loc, msg = only(r.json()["detail"])
    assert loc == ["body", "timepoint"] and "M4" in msg and "M3" in msg
    for label in ("m3", "Y0", "Y1", "D0"):
        r = client.post("/v1/followup-contacts", json=visit(t, "2025-05-10", label), headers=world.clinic.headers)
        assert r.status_code == 422, label


def test_a_visit_far_outside_its_timepoints_window_is_stored_with_a_warning(client, world, treated):
    _, t = treated  # infused 2025-01-10; M12 due 2026-01-10, window +-30 days, late until 60 days after
    h = world.clinic.headers
    r = client.post("/v1/followup-contacts", json=visit(t, "2025-08-25", "M12"), headers=h)  # 7.5 months
    assert r.status_code == 201, r.text
    [w] = r.json()["warnings"]
    assert w["loc"] == ["body", "timepoint"] and "will not count toward M12" in w["msg"]
    assert "2025-12-11" in w["msg"]  # the window opens 30 days before the due date
    r = client.post("/v1/followup-contacts", json=visit(t, "2025-07-20", "M6"), headers=h)  # in M6's window
    assert r.status_code == 201 and r.json()["warnings"] == []
    # within the grace period it counts late: no warning
    r = client.post("/v1/followup-contacts", json=visit(t, "2026-03-01", "M12"), headers=h)
    assert r.status_code == 201 and r.json()["warnings"] == []
    # a lifelong contact label far in the future is known but does not count now
    r = client.post("/v1/followup-contacts", json=visit(t, "2026-03-02", "Y20"), headers=h)
    assert r.status_code == 201 and "will not count toward Y20" in r.json()["warnings"][0]["msg"]


def test_a_timepoint_on_a_contact_that_is_not_a_visit_is_kept_with_a_warning(client, world, treated):
    _, t = treated
    r = client.post("/v1/followup-contacts", json=visit(t, "2025-04-10", "M3", kind="unreachable"),
                    headers=world.clinic.headers)
    assert r.status_code == 201, r.text
    [w] = r.json()["warnings"]
    assert w["loc"] == ["body", "timepoint"] and "only a visit" in w["msg"]
    r = client.post("/v1/followup-contacts", json=visit(t, "2025-04-10", "M4", kind="unreachable"),
                    headers=world.clinic.headers)
    assert r.status_code == 422
