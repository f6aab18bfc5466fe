"""Anti-framing, no-sniffing, no-referrer and a Content-Security-Policy on every answer:
the web pages', the API's, errors' and the documentation pages' (which get their own policy)."""
from __future__ import annotations

import pytest

from tests.web.helpers import signed_in


def _policy(response) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in response.headers["content-security-policy"].split(";")}


@pytest.mark.parametrize("path", ["/ui/login", "/v1/auth/me", "/v1/no-such-path", "/ui/static/style.css"])
def test_every_answer_forbids_framing_and_sniffing(client, world, path):
    r = client.get(path)
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    policy = _policy(r)
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert policy["default-src"] == "default-src 'none'"  # no scripts at all outside the documentation


def test_the_pages_policy_allows_exactly_their_own_assets(client, session, world):
    signed_in(client, session, world.safety.user)
    policy = _policy(client.get("/ui/alerts"))
    assert policy["style-src"] == "style-src 'self'"
    assert policy["img-src"] == "img-src 'self' data:"  # the data: favicon
    assert policy["form-action"] == "form-action 'self'"
    assert "script-src" not in policy


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_documentation_may_run_its_own_scripts_only(client, path):
    r = client.get(path)
    assert r.status_code == 200
    policy = _policy(r)
    assert policy["script-src"] == "script-src 'self'"  # no inline script: Swagger UI starts from a local file
    # ReDoc styles itself inline (styled-components); Swagger UI does not need to.
    assert policy["style-src"] == ("style-src 'self' 'unsafe-inline'" if path == "/redoc" else "style-src 'self'")
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert r.headers["x-frame-options"] == "DENY"
