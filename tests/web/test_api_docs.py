"""/docs (Swagger UI) and /redoc work without internet: every asset they load is served by the
service itself, and the pages carry no inline script (a same-origin script policy holds).

The browser test is the real check: chromium on a machine with no internet, every request
off the service aborted and recorded, must show the API's operations on both pages."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from pv_service.app import create_app
from pv_service.core.db import make_engine
from pv_service.core.migrate import upgrade
from tests.conftest import NOW
from tests.web.test_browser import (  # noqa: F401
    CHROMIUM,
    CHROMIUM_ARGS,
    SHOTS,
    serving,
    playwright_api,
)

DOC_PAGES = ("/docs", "/redoc")
# ReDoc's sidebar footer always shows Redocly's logo from their CDN and hides it when it fails
# to load (redoc has no option to leave it out): the one request off the service, harmless.
REDOC_BRANDING = "https://cdn.redoc.ly/redoc/logo-mini.svg"
# The pages must work under a same-origin Content-Security-Policy: Swagger UI under the strictest;
# ReDoc styles itself with inline <style> (styled-components), so it needs style-src 'unsafe-inline'.
STRICT = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
CSP = {"/docs": STRICT, "/redoc": STRICT.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
       + "; worker-src 'self' blob:"}
TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


class _Assets(HTMLParser):
    """The URLs a page loads (scripts, stylesheets, icons) and the text of any inline script."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self.inline_styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            if a.get("src"):
                self.urls.append(a["src"])
            self._in = "script"
        elif tag == "link" and a.get("href"):
            self.urls.append(a["href"])
        elif tag == "style":
            self._in = "style"
        elif tag == "img" and a.get("src"):
            self.urls.append(a["src"])

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "script" and data.strip():
            self.inline_scripts.append(data)
        elif self._in == "style" and data.strip():
            self.inline_styles.append(data)


def _assets(html: str) -> _Assets:
    parser = _Assets()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def docs_client(tmp_path_factory):
    from fastapi.testclient import TestClient

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('docs') / 'docs.db'}")
    upgrade(engine)
    with TestClient(create_app(clock=lambda: NOW, engine=engine)) as client:
        yield client
    engine.dispose()


@pytest.mark.parametrize("page", DOC_PAGES)
def test_doc_pages_load_only_local_assets_and_no_inline_script(docs_client, page):
    r = docs_client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    found = _assets(r.text)
    assert found.inline_scripts == [] and found.inline_styles == []
    scripts = [u for u in found.urls if u.endswith(".js")]
    assert scripts, "the page loads no script"
    for url in found.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), f"{url} is not served by the service"
        asset = docs_client.get(url)
        assert asset.status_code == 200, url
        suffix = re.search(r"\.[a-z]+$", parts.path).group(0)
        assert TYPES[suffix] in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 20, url
    assert "/openapi.json" in r.text


def test_swagger_assets_are_swagger_ui_and_redoc_is_redoc(docs_client):
    swagger = _assets(docs_client.get("/docs").text).urls
    redoc = _assets(docs_client.get("/redoc").text).urls
    bundle = next(u for u in swagger if u.endswith("swagger-ui-bundle.js"))
    assert b"SwaggerUIBundle" in docs_client.get(bundle).content
    assert any(u.endswith("swagger-ui.css") for u in swagger)
    standalone = next(u for u in redoc if u.endswith("redoc.standalone.js"))
    assert b"Redoc" in docs_client.get(standalone).content
    assert docs_client.get("/ui/static/docs/nothing.js").status_code == 404
    assert docs_client.get("/ui/static/docs/..%2Fsettings.py").status_code == 404


@pytest.fixture(scope="module")
def docs_server(playwright_api, tmp_path_factory):  # noqa: F811
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('docs_live') / 'docs.db'}")
    upgrade(engine)
    app = create_app(clock=lambda: NOW, engine=engine)
    with serving(app) as base:
        yield base, app
    engine.dispose()


@pytest.mark.browser
def test_docs_render_the_operations_in_chromium_with_no_network_under_csp(playwright_api, docs_server):  # noqa: F811
    sync_playwright, expect = playwright_api
    base, app = docs_server
    operations = sum(len(methods) for methods in app.openapi()["paths"].values())
    SHOTS.mkdir(parents=True, exist_ok=True)
    off_site: list[str] = []
    failures: list[str] = []

    def only_local(route):
        url = urlsplit(route.request.url)
        if url.path in CSP and url.netloc == urlsplit(base).netloc:
            # The service's own policy, no stricter than the one the page is proved to work under.
            response = route.fetch()
            served = set(response.headers["content-security-policy"].split("; "))
            assert set(CSP[url.path].split("; ")) <= served, (url.path, served)
            route.fulfill(response=response)
        elif url.netloc == urlsplit(base).netloc or route.request.url.startswith(("blob:", "data:")):
            route.continue_()
        else:
            off_site.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", only_local)
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.on("response", lambda r: r.status >= 400 and failures.append(f"{r.status} {r.url}"))
            page.on("console", lambda m: m.type == "error" and REDOC_BRANDING not in (m.location.get("url"), m.text)
                    and REDOC_BRANDING not in m.text and failures.append(f"console: {m.text} {m.location}"))
            page.on("pageerror", lambda e: failures.append(f"page error: {e}"))

            page.goto(base + "/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("pv-service", timeout=30_000)
            expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
            assert page.locator(".opblock").count() == operations
            expect(page.locator(".opblock-summary-path").first).to_contain_text("/")
            page.screenshot(path=SHOTS / "docs-swagger.png")

            page.goto(base + "/redoc")
            # ReDoc lays out the whole spec in script before its first h1: seconds on a loaded 2-core machine.
            expect(page.locator("h1").first).to_contain_text("pv-service", timeout=30_000)
            expect(page.locator("[data-section-id^='tag/'], [data-section-id^='operation/']").first).to_be_attached(
                timeout=30_000)
            assert page.locator("[data-section-id^='operation/']").count() >= operations
            page.screenshot(path=SHOTS / "docs-redoc.png")
        finally:
            browser.close()
    assert failures == []
    assert set(off_site) <= {REDOC_BRANDING}, off_site
