"""The safety officers' web pages through the ASGI app (SQLite and PostgreSQL, like every DB test)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlmodel import select

from pv_service.alerting.models import Alert, AlertEvent
from pv_service.audit import chain
from pv_service.signals.models import SignalPair, SignalRun
from pv_service.web.auth import SESSION_COOKIE, csrf_for
from tests.api.conftest import register, report_payload, treat
from tests.conftest import NOW
from tests.web.helpers import (
    csrf_of,
    hidden,
    login,
    make_alert,
    set_password,
    signal_detail,
    signed_in,
    use_session_of,
)


def alert_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-alert-id="(\d+)"', html)]


# ---- sign in, roles, sessions

def test_root_goes_to_the_ui_and_the_ui_asks_for_a_login(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ui"
    r = client.get("/ui", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=%2Fui"
    r = client.get("/ui/alerts/3?cases_page=2", follow_redirects=False)
    assert r.headers["location"] == "/ui/login?next=%2Fui%2Falerts%2F3%3Fcases_page%3D2"


def test_login_sets_an_http_only_lax_cookie_and_a_bad_login_shows_an_error(client, session, world):
    set_password(session, world.safety.user)
    bad = login(client, "safety", "wrong password")
    assert bad.status_code == 401 and "Wrong username or password." in bad.text
    assert SESSION_COOKIE not in bad.headers.get("set-cookie", "")
    assert login(client, "nobody", "whatever").status_code == 401

    r = login(client, "safety", next_="/ui/compliance")
    assert r.status_code == 303 and r.headers["location"] == "/ui/compliance"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=lax" in cookie.lower() and "path=/ui" in cookie.lower()
    page = client.get("/ui")
    assert page.status_code == 200 and "Alert queue" in page.text and ">safety<" in page.text


def test_login_refuses_a_form_without_its_token_and_never_redirects_off_site(client, session, world):
    set_password(session, world.safety.user)
    r = client.post("/ui/login", data={"username": "safety", "password": "correct horse battery"},
                    follow_redirects=False)
    assert r.status_code == 400 and "expired" in r.text
    r = login(client, "safety", next_="https://evil.example/")
    assert r.status_code == 303 and r.headers["location"] == "/ui"


def test_other_roles_get_a_clear_403(client, session, world):
    set_password(session, world.clinic.user)
    r = login(client, "clinic-a")
    assert r.status_code == 403 and "Safety officers only" in r.text and "role clinic" in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    # A session cookie of another role (say, minted elsewhere) does not open the pages either.
    use_session_of(client, world.mah.user)
    for path in ("/ui", "/ui/alerts", "/ui/compliance", "/ui/audit"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 403 and "role: mah" in r.text


def test_an_expired_session_goes_back_to_the_login_page(client, world):
    use_session_of(client, world.safety.user, now=NOW - dt.timedelta(hours=2))
    r = client.get("/ui/alerts", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=%2Fui%2Falerts&expired=1"
    assert "session has ended" in client.get(r.headers["location"]).text


def test_logout_needs_the_form_token_and_ends_the_session(client, session, world):
    signed_in(client, session, world.safety.user)
    assert client.post("/ui/logout", follow_redirects=False).status_code == 403
    r = client.post("/ui/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    assert client.get("/ui", follow_redirects=False).status_code == 303


# ---- the queue

@pytest.fixture
def queue_alerts(session, products):
    cart, msc = products["cart"].id, products["msc"].id
    return {
        "s1": make_alert(session, key="s1", priority=90, product_id=cart),
        "s2": make_alert(session, key="s2", status="closed", priority=95, product_id=cart),
        "s3": make_alert(session, key="s3", status="validation", priority=40, product_id=msc),
        "f1": make_alert(session, key="f1", type="followup", priority=60, product_id=cart, severity="medium"),
        "f2": make_alert(session, key="f2", type="followup", status="resolved", priority=10, product_id=msc),
    }


def test_queue_sorts_by_priority_and_filters(client, session, world, queue_alerts):
    signed_in(client, session, world.safety.user)
    a = {k: v.id for k, v in queue_alerts.items()}

    def ids(**params):
        r = client.get("/ui/alerts", params=params)
        assert r.status_code == 200, r.text
        return alert_ids(r.text)

    assert ids() == [a["s1"], a["f1"], a["s3"]]  # open only by default, priority descending
    assert alert_ids(client.get("/ui").text) == [a["s1"], a["f1"], a["s3"]]
    # the unreviewed (new) signal first, then priority: a closed signal at 95 follows it
    assert ids(open_only=0) == [a["s1"], a["s2"], a["f1"], a["s3"], a["f2"]]
    assert ids(type="signal") == [a["s1"], a["s3"]]
    assert ids(product="MSC-1", open_only=0) == [a["s3"], a["f2"]]
    assert ids(status="closed", open_only=0) == [a["s2"]]
    assert ids(type="followup", product="CART-1") == [a["f1"]]
    assert ids(product="NO-SUCH") == []
    assert client.get("/ui/alerts", params={"type": "bogus"}).status_code == 422


def test_queue_counts_per_status_and_pages(client, session, world, queue_alerts):
    signed_in(client, session, world.safety.user)
    html = client.get("/ui/alerts", params={"type": "signal"}).text
    counts = dict(re.findall(r'data-status="(\w+)">\s*<span[^>]*>[^<]*</span> <b>(\d+)</b>', html))
    assert counts == {"new": "1", "validation": "1", "closed": "1"}  # the type filter applies, not open-only
    for i in range(30):
        make_alert(session, key=f"bulk{i}", type="deadline", priority=1, product_id=queue_alerts["s1"].product_id)
    first = client.get("/ui/alerts").text
    assert "Page 1 of 2" in first and len(alert_ids(first)) == 25
    second = client.get("/ui/alerts", params={"page": 2}).text
    assert len(alert_ids(second)) == 8 and "Page 2 of 2" in second


# ---- alert detail, cases, transitions

@pytest.fixture
def signal_world(client, session, world, products):
    """CART-1 and T-cell lymphoma: two matching cases, three that must not match, two runs of the pair."""
    h = world.clinic
    lymphoma = {"pt_code": "10042971", "pt_name": "T-cell lymphoma", "onset_date": "2025-01-20",
                "seriousness": {"other_medically_important": True}, "outcome": "not_recovered"}
    pyrexia = {"pt_code": "10037660", "pt_name": "Pyrexia", "outcome": "recovered"}

    def case(local_id, sender_case_id, reactions, received="2025-02-01", product="CART-1", role="suspect",
             sex="female", narrative="CAR-positive T-cell lymphoma found on biopsy."):
        p = register(client, h, local_id, sex=sex, birth_year=1961)
        t = treat(client, h, p["id"], product)
        drugs = [{"treatment_id": t["id"], "role": role}]
        if role != "suspect":  # a valid report needs a suspect product
            other = treat(client, h, p["id"], "MSC-1", batch="LOT-2")
            drugs.append({"treatment_id": other["id"], "role": "suspect"})
        body = report_payload(p["id"], t["id"], sender_case_id, received_date=received, drugs=drugs,
                              reactions=reactions, narrative=narrative)
        r = client.post("/v1/reports", json=body, headers=h.headers)
        assert r.status_code == 201, r.text
        return r.json()["id"], p["id"], body

    first, patient, _ = case("P1", "TCL-1", [lymphoma, pyrexia])
    second, _, _ = case("P2", "TCL-2", [lymphoma], received="2025-08-10", sex="male")
    case("P3", "OTHER-1", [pyrexia])  # another event
    case("P4", "OTHER-2", [lymphoma], product="MSC-1")  # another product
    case("P5", "OTHER-3", [lymphoma], role="concomitant")  # CART-1 not suspect
    _, _, body = case("P6", "OTHER-4", [lymphoma])
    # ... and a case whose follow-up version no longer names the event: its latest version decides.
    followup = {**body, "version": 1, "reactions": [pyrexia], "latest_info_date": "2025-03-01"}
    assert client.post("/v1/reports", json=followup, headers=h.headers).status_code == 201

    runs = []
    for day, level in ((dt.date(2026, 5, 1), "pt"), (dt.date(2026, 8, 1), "group"), (dt.date(2026, 11, 1), "pt")):
        run = SignalRun(started_at=NOW, finished_at=NOW, as_of=day, level=level, hyperparameters={
            "source": "one_component", "summary": "one-component gamma prior by maximum likelihood (because "
                                                 "12 pair(s) are too few to fit a two-component prior)"})
        session.add(run)
        session.flush()
        runs.append(run)
    pair = dict(n_product=10, n_event=6, n_total=50, expected=1.2)
    session.add_all([
        SignalPair(run_id=runs[0].id, product="CART-1", event="T-cell lymphoma", n=2, prr=2.5, ror=3.0, ebgm=1.6,
                   eb05=0.8, **pair),
        SignalPair(run_id=runs[1].id, product="CART-1", event="T-cell lymphoma", n=9, prr=99.0, **pair),  # group run
        SignalPair(run_id=runs[2].id, product="CART-1", event="T-cell lymphoma", n=4, prr=5.0, ror=12.0, ebgm=2.8,
                   eb05=1.4, **pair),
        SignalPair(run_id=runs[2].id, product="CART-1", event="Pyrexia", n=1, prr=0.5, **pair),
    ])
    session.commit()
    detail = signal_detail("CART-1", "T-cell lymphoma", run_id=runs[2].id)
    alert = make_alert(session, key="signal:pt:CART-1:T-cell lymphoma", priority=80, product_id=products["cart"].id,
                       title="T-cell lymphoma after CART-1: disproportionate reporting", detail=detail)
    return {"alert": alert, "cases": [first, second], "patient": patient, "runs": runs}


def test_signal_detail_shows_table_measures_trend_and_cases(client, session, world, signal_world):
    signed_in(client, session, world.safety.user)
    alert = signal_world["alert"]
    html = client.get(f"/ui/alerts/{alert.id}").text
    assert "T-cell lymphoma after CART-1: disproportionate reporting" in html
    # 2x2 from n=4, n_product=10, n_event=6, n_total=50: b = 10-4, c = 6-4, d = 50-10-6+4
    for cell, value in (("a", 4), ("b", 6), ("c", 2), ("d", 38)):
        assert re.search(rf'id="cell-{cell}">{cell} = {value}<', html), cell
    measures = {m: re.search(rf'<tr id="m-{m}">(.*?)</tr>', html, re.S).group(1)
                for m in ("prr", "chi2", "ror", "ic", "ebgm")}
    assert "5.00" in measures["prr"] and "[1.50, 16.50]" in measures["prr"] and "6.25" in measures["chi2"]
    assert "12.00" in measures["ror"] and "[1.90, 75.00]" in measures["ror"]
    assert "1.50" in measures["ic"] and "[0.20, 2.40]" in measures["ic"]
    assert "2.80" in measures["ebgm"] and "[1.40, 5.10]" in measures["ebgm"]
    # which MGPS prior the alert's run used, and why
    prior_row = re.search(r'<p id="m-prior"[^>]*>(.*?)</p>', html, re.S).group(1)
    assert "one-component gamma prior by maximum likelihood (because 12 pair(s) are too few" in prior_row
    # Trend: the two pt-level runs only (not the group run, not another event), the alert's run highlighted.
    trend = re.search(r'<table class="trend">(.*?)</table>', html, re.S).group(1)
    assert "2026-05-01" in trend and "2026-11-01" in trend and "2026-08-01" not in trend and "99.00" not in trend
    assert trend.count('class="current"') == 1
    # (the quarterly chart comes first: this hand-made run stored no quarters, and the page says so)
    assert "No quarterly measures stored for this pair" in html
    svg = re.search(r'Trend across signal runs</h2>\s*(<svg class="chart".*?</svg>)', html, re.S).group(1)
    assert svg.count("<circle") == 8 and "this alert's run" in svg  # 2 runs x PRR, ROR, EBGM, EB05
    # Cases: latest version names CART-1 as suspect and the event.
    listed = [int(x) for x in re.findall(r'href="/ui/cases/(\d+)"', html)]
    assert sorted(listed) == sorted(signal_world["cases"])
    assert "Cases behind the alert <small>(2)</small>" in html
    cumulative = re.search(r'Cumulative cases by quarter.*?</svg>', html, re.S).group(0)
    assert re.findall(r"<title>(\d{4} Q\d): (\d+)</title>", cumulative) == [
        ("2025 Q1", "1"), ("2025 Q2", "1"), ("2025 Q3", "2")]


def test_case_page_shows_the_pseudonymised_case(client, session, world, signal_world):
    signed_in(client, session, world.safety.user)
    case_id = signal_world["cases"][0]
    html = client.get(f"/ui/cases/{case_id}").text
    assert f"Case {case_id}" in html and "TCL-1" in html
    assert f"<dd>{signal_world['patient']}</dd>" in html and "<dd>female</dd>" in html and "<dd>1961</dd>" in html
    assert "T-cell lymphoma" in html and "other medically important" in html
    assert "CAR-positive T-cell lymphoma found on biopsy." in html
    assert client.get("/ui/cases/999999").status_code == 404
    assert client.get(f"/ui/cases/{case_id}", params={"version": 7}).status_code == 404


def test_transitions_through_the_form(client, session, world, signal_world):
    signed_in(client, session, world.safety.user)
    alert = signal_world["alert"]
    url = f"/ui/alerts/{alert.id}"
    page = client.get(url).text
    assert re.findall(r'name="to" value="(\w+)"', page) == ["validation"]
    token = hidden(page, "csrf_token")

    r = client.post(f"{url}/transition", data={"to": "validation", "comment": "Two cases <b>DME</b>",
                                                "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=validation"
    page = client.get(r.headers["location"]).text
    assert "Moved to <b>validation</b>" in page
    assert re.search(r'id="alert-status"><span class="badge status-validation">validation</span>', page)
    assert "Two cases &lt;b&gt;DME&lt;/b&gt;" in page  # the comment, escaped, in the history
    assert re.findall(r'name="to" value="(\w+)"', page) == ["validated", "refuted"]
    event = session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id, AlertEvent.kind == "transition")).one()
    assert (event.actor, event.from_status, event.to_status, event.comment) == (
        "safety", "new", "validation", "Two cases <b>DME</b>")
    assert "Two cases &lt;b&gt;DME&lt;/b&gt;" in client.get("/ui/audit").text

    # An illegal step is a 409 shown on the page; nothing changes.
    r = client.post(f"{url}/transition", data={"to": "confirmed", "comment": "skip ahead", "csrf_token": token})
    assert r.status_code == 409
    assert "cannot move a signal alert from validation to confirmed; next steps: validated, refuted" in r.text
    assert "skip ahead" in r.text  # the comment is kept in the form
    r = client.post(f"{url}/transition", data={"to": "refuted", "comment": "   ", "csrf_token": token})
    assert r.status_code == 422 and "A comment is required" in r.text
    session.expire_all()
    assert session.get(Alert, alert.id).status == "validation"

    assert client.post(f"{url}/transition", data={"to": "refuted", "comment": "duplicates",
                                                  "csrf_token": token}).status_code == 200
    page = client.get(url).text
    assert '<option value="no_action">no action</option>' in page and "label_change" not in page
    r = client.post(f"{url}/transition", data={"to": "closed", "comment": "done", "action": "label_change",
                                               "csrf_token": token})
    assert r.status_code == 409 and "a refuted signal closes with no_action" in r.text
    r = client.post(f"{url}/transition", data={"to": "closed", "comment": "done", "action": "no_action",
                                               "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    session.expire_all()
    closed = session.get(Alert, alert.id)
    assert (closed.status, closed.resolution) == ("closed", "no_action")
    assert "no further steps" in client.get(url).text


def test_a_signal_alert_with_little_detail_still_renders(client, session, world, products):
    signed_in(client, session, world.safety.user)
    alert = make_alert(session, key="signal:old", product_id=products["cart"].id, detail={"n": 1})
    html = client.get(f"/ui/alerts/{alert.id}").text
    assert "Counts not available." in html and "No stored runs for this pair." in html and "No cases found." in html


def test_posts_without_the_sessions_csrf_token_are_refused(client, session, world, signal_world):
    signed_in(client, session, world.safety.user)
    alert = signal_world["alert"]
    url = f"/ui/alerts/{alert.id}/transition"
    r = client.post(url, data={"to": "validation", "comment": "x"})
    assert r.status_code == 403 and "Form expired" in r.text
    other_token = csrf_for("some-other-session-token")
    assert client.post(url, data={"to": "validation", "comment": "x", "csrf_token": other_token}).status_code == 403
    session.expire_all()
    assert session.get(Alert, alert.id).status == "new"
    assert session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id,
                                                 AlertEvent.kind == "transition")).first() is None


def test_operational_alert_detail_is_a_key_value_table_and_everything_is_escaped(client, session, world, products):
    signed_in(client, session, world.safety.user)
    alert = make_alert(session, key="followup:treatment:1:Y2", type="followup", product_id=products["cart"].id,
                       title="<script>alert(1)</script> Y2 visit missed", subject_type="treatment", subject_id=1,
                       detail={"timepoint": "Y2", "due_date": "2026-10-01", "note": "<b>call the clinic</b>",
                               "contacts": [1, 2]})
    html = client.get(f"/ui/alerts/{alert.id}").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; Y2 visit missed" in html
    assert "<th>due date</th><td>2026-10-01</td>" in html and "&lt;b&gt;call the clinic&lt;/b&gt;" in html
    assert "<code>[1, 2]</code>" in html
    assert re.findall(r'name="to" value="(\w+)"', html) == ["acknowledged", "resolved"]
    assert 'name="action"' not in html
    assert client.get("/ui/alerts/999999").status_code == 404


# ---- compliance and audit pages

def test_compliance_page_numbers_for_a_tiny_cohort(client, session, world, products):
    """As of 2026-11-23 (the test clock), worked out by hand from alerts/followup_plans.yaml.

    CART-1 (car_t_lifelong: 18 listed timepoints, D28 +-7 days with 14 days' grace):
      P1 infused 2026-10-01, visit 10-30 labelled D28 (window 10-22..11-05)  -> on time; 17 not yet due
      P2 infused 2026-09-01, no visit: D28 window closed 10-06, grace to 10-20 -> missed;
         M3 due 12-01 opens 11-24                                              -> 17 not yet due; active
      P3 infused 2026-06-01, visit 07-10 (window closed 07-06, grace to 07-20) -> D28 late; died 08-01,
         so M3 (grace ends after the death) is no longer expected               -> deceased
      P6 infused 2026-10-12: D28 window 11-02..11-16, grace to 11-30            -> overdue; 17 not yet due
      patients 4 (3 active, 1 deceased); completed 2 of 4 fallen due = 50%
    MSC-1 (stem_cell_5y: 8 timepoints, M1 +-7 days with 14 days' grace):
      P4 infused 2026-09-15, withdrew 10-01 before M1 (due 10-15)             -> withdrawn, no timepoints
      P5 infused 2026-10-20: M1 due 11-20, window 11-13..11-27                 -> window open; 7 not yet due
    """
    h = world.clinic

    def patient(local_id, product, infused, contacts=()):
        p = register(client, h, local_id)
        t = treat(client, h, p["id"], product, infused)
        for kind, day, *label in contacts:
            body = {"treatment_id": t["id"], "kind": kind, "contact_date": day} | ({"timepoint": label[0]} if label else {})
            r = client.post("/v1/followup-contacts", json=body, headers=h.headers)
            assert r.status_code == 201, r.text

    patient("P1", "CART-1", "2026-10-01", [("visit", "2026-10-30", "D28")])
    patient("P2", "CART-1", "2026-09-01")
    patient("P3", "CART-1", "2026-06-01", [("visit", "2026-07-10"), ("death", "2026-08-01")])
    patient("P6", "CART-1", "2026-10-12")
    patient("P4", "MSC-1", "2026-09-15", [("withdrawal", "2026-10-01")])
    patient("P5", "MSC-1", "2026-10-20")
    make_alert(session, key="followup:treatment:x:D28", type="followup", product_id=products["cart"].id)

    signed_in(client, session, world.safety.user)
    html = client.get("/ui/compliance").text
    assert "as of 2026-11-23" in html

    def row(code):
        cells = re.search(rf'<tr id="product-{code}">(.*?)</tr>', html, re.S).group(1)
        return {k: re.sub(r"<[^>]+>", "", v).strip() for k, v in re.findall(r'data-col="([\w-]+)">(.*?)</td>', cells, re.S)}

    cart = row("CART-1")
    assert {k: cart[k] for k in ("patients", "active", "lost_to_follow_up", "deceased", "withdrawn", "transferred")} == {
        "patients": "4", "active": "3", "lost_to_follow_up": "0", "deceased": "1", "withdrawn": "0", "transferred": "0"}
    assert {k: cart[f"tp-{k}"] for k in ("completed_on_time", "completed_late", "overdue", "missed", "window_open",
                                         "not_yet_due")} == {
        "completed_on_time": "1", "completed_late": "1", "overdue": "1", "missed": "1", "window_open": "0",
        "not_yet_due": "51"}
    assert cart["completeness"] == "50%" and cart["alerts"] == "1 open"
    msc = row("MSC-1")
    assert (msc["patients"], msc["active"], msc["withdrawn"]) == ("2", "1", "1")
    assert (msc["tp-window_open"], msc["tp-not_yet_due"], msc["tp-missed"]) == ("1", "7", "0")
    assert msc["completeness"] == "—" and msc["alerts"] == "0 open"
    assert 'href="/ui/alerts?type=followup&amp;product=CART-1&amp;open_only=1"' in html


def test_audit_page_lists_records_and_verifies_the_chain(client, session, world, products):
    signed_in(client, session, world.safety.user)
    make_alert(session, key="a1", product_id=products["cart"].id)
    make_alert(session, key="a2", product_id=products["cart"].id)
    session.commit()
    html = client.get("/ui/audit").text
    sealed = session.exec(select(chain.AuditRecord).where(chain.AuditRecord.seq.is_not(None))).all()
    assert re.search(rf"intact &mdash; {len(sealed)} records? checked;\s*no exported head", html)
    assert "NOT SEALED" not in html and '<a href="/ui/alerts/' in html
    filtered = client.get("/ui/audit", params={"entity_type": "alert"}).text
    assert "user " not in re.sub(r"<select.*?</select>", "", filtered, flags=re.S)
