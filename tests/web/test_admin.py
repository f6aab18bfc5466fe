"""The admins' account page, and sessions that end at logout on the server side."""
from __future__ import annotations

import re

import sqlalchemy as sa

from pv_service.audit.models import AuditRecord
from pv_service.auth.models import ApiKey, User
from pv_service.web.auth import SESSION_COOKIE
from tests.web.helpers import csrf_of, signed_in


def _service_account(session, world, username="emr-feed") -> User:
    from tests.conftest import NOW

    user = User(username=username, role="clinic", organization_id=world.clinic_a.id, created_at=NOW)
    session.add(user)
    session.commit()
    return user


def test_a_session_copied_before_logout_is_refused_after_it(client, session, world):
    signed_in(client, session, world.safety.user)
    stolen = client.cookies.get(SESSION_COOKIE)
    assert client.post("/ui/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False).status_code == 303
    client.cookies.set(SESSION_COOKIE, stolen)
    r = client.get("/ui/alerts", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")


def test_admins_land_on_the_accounts_page_and_others_may_not_open_it(client, session, world):
    signed_in(client, session, world.admin.user)
    page = client.get("/ui", follow_redirects=True)
    assert page.url.path == "/ui/admin" and "<h1>Accounts</h1>" in page.text
    client.cookies.clear()
    signed_in(client, session, world.safety.user)
    r = client.get("/ui/admin")
    assert r.status_code == 403 and "Admins only" in r.text


def test_an_admin_issues_a_key_shown_once_then_revokes_it(client, session, world):
    account = _service_account(session, world)
    signed_in(client, session, world.admin.user)
    page = client.post("/ui/admin/keys", data={"user_id": account.id, "name": "EMR gateway",
                                                "scopes": ["read", "reports:write"], "valid_until": "2027-06-30",
                                                "csrf_token": csrf_of(client, "/ui/admin")})
    assert page.status_code == 201, page.text
    key = re.search(r'<code class="secret">(pvk_[^<]+)</code>', page.text).group(1)
    assert page.headers["Cache-Control"] == "no-store"
    assert client.get("/v1/auth/me", headers={"Authorization": f"Bearer {key}"}).json()["username"] == "emr-feed"
    row = session.exec(sa.select(ApiKey)).scalars().one()
    assert row.scopes == "read reports:write" and row.expires_at.isoformat().startswith("2027-07-01T00:00")
    again = client.get("/ui/admin")
    assert key not in again.text and "EMR gateway" in again.text
    r = client.post(f"/ui/admin/keys/{row.id}/revoke", data={"csrf_token": csrf_of(client, "/ui/admin")},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/admin?done=revoked"
    assert client.get("/v1/auth/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    actions = session.execute(sa.select(AuditRecord.action).where(AuditRecord.entity_type == "api_key")).scalars()
    assert list(actions) == ["issued", "revoked"]


def test_an_admin_deactivates_a_user_from_the_page(client, session, world):
    signed_in(client, session, world.admin.user)
    r = client.post(f"/ui/admin/users/{world.clinic.user.id}/active",
                    data={"active": "false", "csrf_token": csrf_of(client, "/ui/admin")}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/v1/auth/me", headers=world.clinic.headers).status_code == 401
    assert "deactivated" in client.get(r.headers["location"]).text


def test_the_account_forms_need_the_session_token_and_valid_input(client, session, world):
    account = _service_account(session, world)
    signed_in(client, session, world.admin.user)
    assert client.post("/ui/admin/keys", data={"user_id": account.id, "name": "x", "scopes": ["read"]}
                       ).status_code == 403
    bad = client.post("/ui/admin/keys", data={"user_id": account.id, "name": "x", "scopes": ["root"],
                                               "csrf_token": csrf_of(client, "/ui/admin")})
    assert bad.status_code == 422 and "scopes" in bad.text
    past = client.post("/ui/admin/keys", data={"user_id": account.id, "name": "x", "scopes": ["read"],
                                                "valid_until": "2020-01-01", "csrf_token": csrf_of(client, "/ui/admin")})
    assert past.status_code == 422 and "must be in the future" in past.text
    me = client.post(f"/ui/admin/users/{world.admin.user.id}/active",
                     data={"active": "false", "csrf_token": csrf_of(client, "/ui/admin")})
    assert me.status_code == 409 and "cannot deactivate" in me.text
    assert not session.exec(sa.select(ApiKey)).first()
