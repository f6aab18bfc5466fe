"""The safety officer's round in a real browser: Debian's chromium via Playwright, a real uvicorn server.

SQLite only: the server runs on a temporary database of its own (the demo cohort plus a
queue of signal alerts, see browser_seed.py), not on the parametrised `engine` fixture.
Screenshots go to artifacts/screenshots/ for a reviewer to look at.

Without Playwright or chromium this test skips with the reason, except when CI is set:
then it fails (install them with `make install browser`).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from pv_service.app import create_app
from pv_service.core.db import make_engine
from pv_service.core.migrate import upgrade
from pv_service.core.settings import PROJECT_ROOT
from tests.web.browser_seed import SAFETY_PASSWORD, SAFETY_USER, seed

pytestmark = pytest.mark.browser

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("PV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"


# The alert page's 2x2 table and measures: their boxes overlap, or one passes the panel's edge.
_TABLE_BOXES = """() => {
  const box = q => document.querySelector(q).getBoundingClientRect();
  const a = box('table.two-by-two'), m = box('table.measures');
  const panel = document.querySelector('table.measures').closest('section').getBoundingClientRect();
  return {two_by_two: [a.left, a.right, a.top, a.bottom], measures: [m.left, m.right, m.top, m.bottom],
          panel: [panel.left, panel.right],
          overlap: !(a.right <= m.left || m.right <= a.left || a.bottom <= m.top || m.bottom <= a.top),
          outside: Math.max(a.right, m.right) > panel.right + 0.5};
}"""


# elements reaching past the window's right edge, innermost first (for the failure message)
_WIDER = """w => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > w + 0.5 && ![...e.children].some(c => c.getBoundingClientRect().right > w + 0.5))
  .slice(0, 5).map(e => { const t = e.closest('table, svg, section');
    return e.tagName.toLowerCase() + ' in ' + (t ? t.tagName.toLowerCase() + '.' + String(t.className.baseVal ?? t.className) : '-')
      + ' ' + Math.round(e.getBoundingClientRect().right); })"""


def _assert_fits(page, width: int) -> None:
    """At a window ``width`` px wide the page is no wider: wide tables scroll in their boxes."""
    page.set_viewport_size({"width": width, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= width, (width, page.evaluate(_WIDER, width))


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (CI is set, so the browser test must run)", pytrace=False)
    pytest.skip(f"{reason}: install it to run the browser test (`make install browser`)")


@pytest.fixture(scope="module")
def playwright_api():
    """(sync_playwright, expect), or a skip/failure naming what is missing."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError as exc:
        _unavailable(f"Playwright for Python is not installed ({exc})")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"chromium not found at {CHROMIUM}")
    return sync_playwright, expect


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(app):
    """The app served by uvicorn in a background thread; yields its base URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(playwright_api, tmp_path_factory):
    """uvicorn in a background thread, serving the app on a seeded temporary SQLite database."""

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'browser.db'}")
    upgrade(engine)
    alerts = seed(engine, NOW)
    with serving(create_app(clock=lambda: NOW, engine=engine)) as base:
        yield base, alerts
    engine.dispose()


def test_safety_officer_validates_the_top_alert_in_chromium(playwright_api, live_server):
    sync_playwright, expect = playwright_api
    base, alerts = live_server
    dme = alerts["dme"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    first_comment = "Validation started: T-cell lymphoma cases after CAR-T, transgene testing requested."
    second_comment = "Validated: CAR transgene detected in tumour of 2 cases; go to assessment."
    failures: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.on("response", lambda r: r.status >= 400 and failures.append(f"{r.status} {r.url}"))
            nav = page.get_by_role("navigation", name="main")
            page.on("console", lambda m: m.type == "error" and failures.append(f"console: {m.text}"))

            # Sign in: / -> /ui -> the login page, then back to the queue.
            page.goto(base + "/")
            expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui$"))
            page.screenshot(path=SHOTS / "00-login.png")
            page.get_by_label("Username").fill(SAFETY_USER)
            page.get_by_label("Password").fill(SAFETY_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Alert queue")).to_be_visible()
            session_cookie = next(c for c in context.cookies() if c["name"] == "pv_session")
            assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Lax"
            page.screenshot(path=SHOTS / "01-queue.png", full_page=True)
            _assert_fits(page, 600)  # the queue's table scrolls in its box
            page.set_viewport_size({"width": 1440, "height": 900})

            # The highest-priority alert is first: the designated medical event.
            rows = page.locator("table.queue tbody tr")
            assert rows.first.get_attribute("data-alert-id") == str(dme.id)
            rows.first.locator("td.title a").click()
            expect(page.get_by_role("heading", level=1)).to_have_text(dme.title)
            expect(page.locator("#alert-status")).to_have_text("new")
            expect(page.locator("#cell-a")).to_have_text(f"a = {dme.detail['n']}")
            expect(page.locator("svg.chart").first).to_be_visible()
            page.screenshot(path=SHOTS / "02-alert-detail.png", full_page=True)
            for width in (1200, 1100, 1000, 600, 1440):  # side by side or stacked, never one over the other
                page.set_viewport_size({"width": width, "height": 900})
                boxes = page.evaluate(_TABLE_BOXES)
                assert not boxes["overlap"] and not boxes["outside"], (width, boxes)
                assert boxes["panel"][1] <= width, (width, boxes)  # the panel within the window
                _assert_fits(page, width)  # nothing wider than the window (the header's links wrap)
                if width == 600:
                    page.screenshot(path=SHOTS / "02-alert-detail-600px.png", full_page=True)

            # new -> validation -> validated, each with its reason.
            page.get_by_label("Comment (required: why)").fill(first_comment)
            page.get_by_role("button", name="Move to validation").click()
            expect(page.locator("#alert-status")).to_have_text("validation")
            expect(page.get_by_role("status")).to_contain_text("Moved to validation")
            page.get_by_label("Comment (required: why)").fill(second_comment)
            page.get_by_role("button", name="Move to validated").click()
            expect(page.locator("#alert-status")).to_have_text("validated")
            history = page.locator("ol.history")
            expect(history).to_contain_text(first_comment)
            expect(history).to_contain_text(second_comment)
            expect(history).to_contain_text("validation → validated")
            page.screenshot(path=SHOTS / "03-after-transition.png", full_page=True)

            # A case behind the alert.
            page.locator("table.cases a").first.click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Case")
            expect(page.locator("body")).to_contain_text("Birth year")
            page.screenshot(path=SHOTS / "04-case.png", full_page=True)

            # The queue shows the new status.
            nav.get_by_role("link", name="Queue").click()
            row = page.locator(f'tr[data-alert-id="{dme.id}"]')
            expect(row.locator("td.status")).to_have_text("validated")
            expect(page.locator('nav.summary a[data-status="validated"]')).to_contain_text("1")

            nav.get_by_role("link", name="Compliance").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Follow-up compliance")
            expect(page.locator("table.compliance tbody tr").first).to_be_visible()
            page.screenshot(path=SHOTS / "05-compliance.png", full_page=True)

            nav.get_by_role("link", name="Audit").click()
            expect(page.locator("#verify")).to_contain_text("intact")
            expect(page.locator("#verify")).to_contain_text("no exported head")
            expect(page.locator("table.audit")).to_contain_text(second_comment)
            page.screenshot(path=SHOTS / "06-audit.png", full_page=True)
            _assert_fits(page, 600)
            page.set_viewport_size({"width": 1440, "height": 900})

            # An operational alert: its free-form detail as a key/value table.
            nav.get_by_role("link", name="Queue").click()
            page.get_by_role("link", name="Y2 follow-up visit missed").click()
            expect(page.locator("table.kv")).to_contain_text("timepoint")
            expect(page.get_by_role("button", name="Move to acknowledged")).to_be_visible()
            page.screenshot(path=SHOTS / "07-followup-alert.png", full_page=True)

            page.get_by_role("button", name="Log out").click()
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            page.goto(base + "/ui/alerts")
            expect(page).to_have_url(re.compile(r"/ui/login"))
        finally:
            browser.close()
    assert failures == []


def test_admin_issues_and_revokes_a_key_in_chromium(playwright_api, live_server):
    """The accounts page under its Content-Security-Policy: styled (the stylesheet is allowed),
    no console errors (a CSP violation is one), the new key shown once."""
    sync_playwright, expect = playwright_api
    base, _ = live_server
    SHOTS.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            page.set_default_timeout(15_000)
            page.on("response", lambda r: r.status >= 400 and failures.append(f"{r.status} {r.url}"))
            page.on("console", lambda m: m.type == "error" and failures.append(f"console: {m.text}"))
            page.goto(base + "/ui/login")
            page.get_by_label("Username").fill("demo-admin")
            page.get_by_label("Password").fill(SAFETY_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Accounts", level=1)).to_be_visible()
            # The stylesheet applied: the header bar has its dark background.
            assert page.locator("header.top").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(16, 42, 67)"
            page.get_by_label("Name").fill("EMR gateway")
            page.get_by_label("submit safety reports").check()
            page.get_by_role("button", name="Issue key").click()
            secret = page.locator("code.secret")
            expect(secret).to_contain_text("pvk_")
            page.screenshot(path=SHOTS / "08-admin-new-key.png", full_page=True)
            page.goto(base + "/ui/admin")
            expect(page.locator("code.secret")).to_have_count(0)
            row = page.locator("table.accounts tr", has_text="EMR gateway")
            row.get_by_role("button", name="Revoke").click()
            expect(page.get_by_text("Key revoked.")).to_be_visible()
            expect(page.locator("table.accounts tr", has_text="EMR gateway")).to_contain_text("revoked")
            page.screenshot(path=SHOTS / "09-admin.png", full_page=True)
        finally:
            browser.close()
    assert failures == [], failures
