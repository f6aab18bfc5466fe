"""Signal records: notes and attachments without a status change (audited; attachments checked for
size, type and content, stored without any client path), the due date of each step (GVP IX
defaults, configurable), and the assessment report of a closed signal (opened and read back)."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from pypdf import PdfReader
from sqlmodel import select

from pv_service.alerting.models import Alert, AlertEvent, SignalAttachment
from pv_service.audit.models import AuditRecord
from pv_service.rules.signal_timelines import SignalTimelines, StepTimeline
from pv_service.signal_records.due import step_due
from pv_service.signal_records.service import MAX_ATTACHMENT_BYTES, clean_filename
from tests.api.conftest import register, report_payload, treat
from tests.web.helpers import csrf_of, make_alert, signal_detail, signed_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
T0 = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.timezone.utc)


# ---- due dates (pure)

def test_step_due_dates_follow_gvp_ix_defaults():
    t = SignalTimelines()
    # new and validation count from detection (raised 1 Oct): 30 days -> 31 Oct
    d = step_due("validation", T0 + dt.timedelta(days=3), T0, t, dt.date(2026, 10, 25))
    assert (d.start, d.due, d.days_left, d.overdue) == (dt.date(2026, 10, 1), dt.date(2026, 10, 31), 6, False)
    assert "IX.C.4" in d.basis
    # assessment counts from entering it: 60 days
    d = step_due("assessment", dt.datetime(2026, 11, 1, 23, 30, tzinfo=dt.timezone.utc), T0, t, dt.date(2027, 1, 5))
    assert (d.due, d.days_left, d.overdue) == (dt.date(2026, 12, 31), -5, True)
    # a step never entered since raised (status_since empty) counts from raising
    assert step_due("validated", None, T0, t, dt.date(2026, 10, 2)).due == dt.date(2026, 10, 31)
    assert step_due("closed", T0, T0, t, dt.date(2026, 10, 2)) is None


def test_timelines_are_configurable_and_checked(tmp_path):
    t = SignalTimelines(steps={"assessment": StepTimeline(days=10, basis="company SOP 12")})
    assert step_due("assessment", T0, T0, t, T0.date()).due == dt.date(2026, 10, 11)
    assert step_due("new", T0, T0, t, T0.date()) is None  # left out: no due date
    import shutil

    from pv_service.rules import RulesError, load_rules
    from tests.conftest import RULES_FIXTURE

    for f in RULES_FIXTURE.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "signal_timelines.yaml").write_text("steps:\n  assesment:\n    days: 10\n    basis: typo\n")
    with pytest.raises(RulesError, match="signal_timelines.yaml:1:1.*unknown signal step.*assesment"):
        load_rules(tmp_path)
    (tmp_path / "signal_timelines.yaml").write_text("steps:\n  assessment:\n    days: 0\n    basis: x\n")
    with pytest.raises(RulesError, match=r"signal_timelines.yaml:3:\d+: steps.assessment.days"):
        load_rules(tmp_path)


def test_filenames_lose_paths_and_odd_characters():
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert clean_filename("a\x00b\nc<script>.txt") == "abc_script_.txt"
    assert clean_filename("..") == "attachment" and clean_filename("") == "attachment"
    assert clean_filename(".htaccess") == "htaccess"
    assert clean_filename("Lymphom–Befund ü.pdf") == "Lymphom_Befund ü.pdf"


# ---- API

@pytest.fixture
def signal(session, products):
    return make_alert(session, key="signal:pt:CART-1:10042971", product_id=products["cart"].id,
                      title="T-cell lymphoma after CART-1",
                      detail={**signal_detail("CART-1", "10042971"), "pt_codes": ["10042971"]})


def test_notes_and_attachments_leave_the_status(client, session, world, signal):
    h = world.safety.headers
    r = client.post(f"/v1/alerts/{signal.id}/notes", json={"text": "Asked the clinic for the biopsy report."}, headers=h)
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/alerts/{signal.id}/attachments", headers=h,
                    files={"file": ("../../biopsy.png", PNG, "image/png")})
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["filename"] == "biopsy.png" and att["size"] == len(PNG)
    session.expire_all()
    alert = session.get(Alert, signal.id)
    assert alert.status == "new" and alert.reviewed_n == 4  # a note is a review, not a step
    kinds = [e.kind for e in session.exec(select(AlertEvent).where(AlertEvent.alert_id == signal.id))]
    assert kinds == ["raised", "noted", "attached"]
    audited = {a.action for a in session.exec(select(AuditRecord).where(AuditRecord.entity_id == signal.id,
                                                                         AuditRecord.entity_type == "alert"))}
    assert {"noted", "attached"} <= audited
    record = client.get(f"/v1/alerts/{signal.id}/record", headers=h).json()
    assert [n["text"] for n in record["notes"]] == ["Asked the clinic for the biopsy report."]
    assert record["step_due"]["status"] == "new" and record["step_due"]["due"] == "2026-12-23"  # NOW + 30
    assert record["report_available"] is False
    got = client.get(f"/v1/alerts/{signal.id}/attachments/{att['id']}", headers=h)
    assert got.content == PNG and got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"].startswith('attachment; filename="biopsy.png"')
    assert got.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("name,data,ctype,why", [
    ("x.html", b"<html></html>", "text/html", "not allowed"),
    ("x.png", b"GIF89a....", "image/png", "does not start as a image/png"),
    ("x.pdf", b"", "application/pdf", "is empty"),
    ("x.txt", b"\xff\xfe\x00bad", "text/plain", "not UTF-8"),
    ("x.pdf", b"%PDF-" + b"0" * MAX_ATTACHMENT_BYTES, "application/pdf", "at most"),
])
def test_attachments_refused_with_the_reason(client, session, world, signal, name, data, ctype, why):
    r = client.post(f"/v1/alerts/{signal.id}/attachments", headers=world.safety.headers,
                    files={"file": (name, data, ctype)})
    assert r.status_code in (413, 422), r.text
    if r.status_code == 422:
        assert why in r.text and "file" in r.text
    assert session.exec(select(SignalAttachment)).all() == []


def test_records_only_on_signals_and_for_safety_officers(client, session, world, signal, products):
    other = make_alert(session, key="deadline:obligation:9", type="deadline", product_id=products["cart"].id)
    assert client.post(f"/v1/alerts/{other.id}/notes", json={"text": "x"},
                       headers=world.safety.headers).status_code == 409
    for actor in (world.mah, world.clinic, world.admin):
        assert client.post(f"/v1/alerts/{signal.id}/notes", json={"text": "x"}, headers=actor.headers).status_code == 403
    assert client.post(f"/v1/alerts/{signal.id}/notes", json={"text": "   "},
                       headers=world.safety.headers).status_code == 422
    assert client.get(f"/v1/alerts/{signal.id}/report.pdf", headers=world.safety.headers).status_code == 409
    assert client.get(f"/v1/alerts/{signal.id}/attachments/999", headers=world.safety.headers).status_code == 404


def _walk_to_closed(client, headers, alert_id):
    for to, action in (("validation", None), ("validated", None), ("assessment", None), ("confirmed", None),
                       ("closed", "label_change")):
        body = {"to": to, "comment": f"step to {to}"} | ({"action": action} if action else {})
        r = client.post(f"/v1/alerts/{alert_id}/transition", json=body, headers=headers)
        assert r.status_code == 200, r.text


def test_assessment_report_of_a_closed_signal(client, session, world, signal):
    h = world.safety.headers
    p = register(client, world.clinic, "R-1")
    t = treat(client, world.clinic, p["id"], "CART-1", infusion_date="2025-01-10", batch="LOT-R")
    body = report_payload(p["id"], t["id"], "TCL-R1", received_date="2025-06-01", reactions=[{
        "pt_code": "10042971", "pt_name": "T-cell lymphoma", "onset_date": "2025-05-10",
        "seriousness": {"other_medically_important": True}, "outcome": "not_recovered"}])
    assert client.post("/v1/reports", json=body, headers=world.clinic.headers).status_code == 201
    client.post(f"/v1/alerts/{signal.id}/notes", json={"text": "Biopsy confirms CAR+ clone."}, headers=h)
    client.post(f"/v1/alerts/{signal.id}/attachments", headers=h, files={"file": ("biopsy.pdf", PDF, "application/pdf")})
    _walk_to_closed(client, h, signal.id)
    r = client.get(f"/v1/alerts/{signal.id}/report.pdf", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(r.content))
    assert len(reader.pages) == 2
    text = " ".join((page.extract_text() or "") for page in reader.pages)
    flat = " ".join(text.split())
    for expected in ("Signal assessment report: alert", "Evidence", "PRR 5.00 [1.50, 16.50]", "a=4 b=6 c=2 d=38",
                     "Decision: closed; action: label change", "confirmed -> closed (label change)",
                     "Biopsy confirms CAR+ clone.", "biopsy.pdf (application/pdf", "Case series (1 cases)",
                     "lot LOT-R; onset 120 d", "expectedness not assessed"):
        assert expected in flat, (expected, flat[:3000])


def test_page_notes_attachments_due_and_report(client, session, world, signal):
    signed_in(client, session, world.safety.user)
    csrf = csrf_of(client, f"/ui/alerts/{signal.id}")
    html = client.get(f"/ui/alerts/{signal.id}").text
    assert 'id="step-due"' in html and "due 2026-12-23" in html and "IX.C.4" in html
    r = client.post(f"/ui/alerts/{signal.id}/notes", data={"text": "Called the clinic <b>", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/ui/alerts/{signal.id}/attachments", data={"csrf_token": csrf},
                    files={"file": ("scan.pdf", PDF, "application/pdf")}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/ui/alerts/{signal.id}/attachments", data={"csrf_token": csrf},
                    files={"file": ("evil.exe", b"MZ", "application/x-msdownload")})
    assert r.status_code == 422 and "not allowed" in r.text
    assert client.post(f"/ui/alerts/{signal.id}/notes", data={"text": "x"}).status_code == 403  # no form token
    html = client.get(f"/ui/alerts/{signal.id}").text
    assert "Called the clinic &lt;b&gt;" in html and "scan.pdf" in html and 'id="report-link"' not in html
    _walk_to_closed(client, world.safety.headers, signal.id)
    html = client.get(f"/ui/alerts/{signal.id}").text
    assert 'id="report-link"' in html and 'id="step-due"' not in html
    r = client.get(f"/ui/alerts/{signal.id}/report.pdf")
    assert r.status_code == 200 and PdfReader(io.BytesIO(r.content)).pages
    session.expire_all()
    assert session.get(Alert, signal.id).status == "closed"
