"""A signal walked in chromium from the triaged queue through its case series (filtered, exported) to a
closed signal with notes, an attachment and its assessment report (the exported files opened).

Same server and seed as test_browser.py (the demo cohort, signal runs, a queue with operational alerts).
"""
from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
from pypdf import PdfReader

from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, live_server, playwright_api  # noqa: F401

pytestmark = pytest.mark.browser
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_signal_from_queue_through_case_series_to_closed_with_report(playwright_api, live_server):  # noqa: F811
    sync_playwright, expect = playwright_api
    base, alerts = live_server
    signal, weak = alerts["statistical"], alerts["weak"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.on("response", lambda r: r.status >= 400 and failures.append(f"{r.status} {r.url}"))
            page.on("console", lambda m: m.type == "error" and failures.append(f"console: {m.text}"))
            page.goto(base + "/ui/login")
            page.get_by_label("Username").fill("demo-safety")
            page.get_by_label("Password").fill("demo-password")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Alert queue")).to_be_visible()

            # Triaged: every unreviewed signal before any operational alert, even the weak one at priority 20.
            views = page.get_by_role("navigation", name="queue views")
            expect(views.locator('a[data-view="signals"] b')).to_have_text("3")
            order = page.locator("table.queue tbody tr").evaluate_all("rows => rows.map(r => r.dataset.view)")
            assert order[:3] == ["signals"] * 3 and set(order[3:]) <= {"followup", "reporting_clocks"}, order
            expect(page.locator(f'tr[data-alert-id="{weak.id}"] [data-evidence="unreviewed"]')).to_be_visible()
            page.screenshot(path=SHOTS / "10-triaged-queue.png", full_page=True)

            # Assign the signal to me in bulk, then find it under "My alerts".
            page.locator(f'tr[data-alert-id="{signal.id}"] input[type=checkbox]').check()
            page.locator("#bulk select[name=operation]").select_option("assign_me")
            page.get_by_role("button", name="Apply to ticked").click()
            expect(page.locator("#bulk-done")).to_contain_text("assign me for 1 alert")
            views.locator('a[data-view="mine"]').click()
            expect(page.locator("table.queue tbody tr")).to_have_count(1)
            page.locator(f'tr[data-alert-id="{signal.id}"] td.title a').click()
            expect(page.get_by_role("heading", level=1)).to_have_text(signal.title)
            expect(page.locator("#step-due")).to_contain_text("IX.C.4")

            # Its case series: agreeing with the 2x2 table, sortable, filterable, exported.
            page.locator("#case-series-link").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Case series")
            expect(page.locator("#agree")).to_contain_text(f"a = {signal.detail['n']}")
            rows = page.locator("table.series tbody tr[data-case-id]")
            expect(rows).to_have_count(signal.detail["n"])
            page.locator('a[data-sort="days_to_onset"]').click()
            expect(page).to_have_url(re.compile(r"sort=days_to_onset"))
            page.screenshot(path=SHOTS / "11-case-series.png", full_page=True)
            page.locator("#series-filters select[name=serious]").select_option("yes")
            page.get_by_role("button", name="Filter").click()
            shown = rows.count()
            assert 0 < shown <= signal.detail["n"]
            with page.expect_download() as got:
                page.locator("#export-csv").click()
            listed = list(csv.DictReader(io.StringIO(open(got.value.path(), encoding="utf-8").read())))
            assert len(listed) == shown and all(r["serious"] == "True" for r in listed)
            with page.expect_download() as got:
                page.locator("#export-xlsx").click()
            sheet = openpyxl.load_workbook(io.BytesIO(open(got.value.path(), "rb").read()))["case_series"]
            assert sheet.max_row == shown + 1 and sheet["A1"].value == "case_id"

            # Back on the signal: a note and an attachment, no status change.
            page.locator("p.crumbs a", has_text=f"alert {signal.id}").click()
            page.get_by_label("Note (no status change)").fill("Asked two clinics for discharge letters.")
            page.get_by_role("button", name="Add note").click()
            expect(page.locator("#recorded")).to_contain_text("Note recorded")
            page.locator("#file").set_input_files({"name": "cluster-plot.png", "mimeType": "image/png", "buffer": PNG})
            page.get_by_role("button", name="Attach", exact=True).click()
            expect(page.locator("ul.attachments")).to_contain_text("cluster-plot.png")
            expect(page.locator("#alert-status")).to_have_text("new")

            # Through the steps to closed with an action.
            for step in ("validation", "validated", "assessment", "confirmed", "closed"):
                page.get_by_label("Comment (required: why)").fill(f"Reason for {step}.")
                if step == "closed":
                    page.get_by_label("Recommended action (when closing)").select_option("label_change")
                page.get_by_role("button", name=f"Move to {step}").click()
                expect(page.locator("#alert-status")).to_have_text(step)
            page.screenshot(path=SHOTS / "12-closed-signal.png", full_page=True)
            with page.expect_download() as got:
                page.locator("#report-link").click()
            reader = PdfReader(got.value.path())
            text = " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)
            for expected in ("Signal assessment report", "Decision: closed; action: label change",
                             "Asked two clinics for discharge letters.", "cluster-plot.png",
                             f"Case series ({signal.detail['n']} cases)"):
                assert expected in text, expected
        finally:
            browser.close()
    assert failures == [], failures
