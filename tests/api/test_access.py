"""Authentication, API keys, roles, organizations and users."""
from __future__ import annotations

import datetime as dt

from pv_service.auth.security import hash_password
from pv_service.auth.models import User


def test_password_login_issues_a_token_that_works(client, session, world):
    user = session.get(User, world.clinic.user.id)
    user.password_hash = hash_password("s3cret-pass")
    session.add(user)
    session.commit()
    r = client.post("/v1/auth/token", data={"username": "clinic-a", "password": "s3cret-pass"})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "clinic-a"
    assert me.json()["role"] == "clinic"


def test_wrong_password_and_missing_token_are_401(client, world):
    assert client.post("/v1/auth/token", data={"username": "clinic-a", "password": "nope"}).status_code == 401
    assert client.get("/v1/auth/me").status_code == 401
    assert client.get("/v1/auth/me", headers={"Authorization": "Bearer garbage"}).status_code == 401


def test_api_key_authenticates_until_revoked(client, world):
    r = client.post("/v1/auth/api-keys", json={"name": "EHR bridge"}, headers=world.clinic.headers)
    assert r.status_code == 201
    key, key_id = r.json()["key"], r.json()["id"]
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/auth/me", headers=headers).json()["username"] == "clinic-a"
    listed = client.get("/v1/auth/api-keys", headers=world.clinic.headers).json()
    assert [k["name"] for k in listed] == ["EHR bridge"] and "key" not in listed[0]
    assert client.post(f"/v1/auth/api-keys/{key_id}/revoke", headers=world.clinic.headers).status_code == 200
    assert client.get("/v1/auth/me", headers=headers).status_code == 401


def test_api_key_is_not_stored_in_clear(client, session, world):
    from pv_service.auth.models import ApiKey
    key = client.post("/v1/auth/api-keys", json={"name": "k"}, headers=world.clinic.headers).json()["key"]
    stored = session.exec(__import__("sqlmodel").select(ApiKey)).one()
    assert key not in stored.key_hash and len(stored.key_hash) == 64


def test_only_admin_manages_organizations_and_users(client, world):
    body = {"name": "Clinic C", "kind": "clinic", "country": "CN"}
    for actor in (world.clinic, world.mah, world.safety):
        assert client.post("/v1/organizations", json=body, headers=actor.headers).status_code == 403
        assert client.get("/v1/users", headers=actor.headers).status_code == 403
    r = client.post("/v1/organizations", json=body, headers=world.admin.headers)
    assert r.status_code == 201
    org_id = r.json()["id"]
    assert client.post("/v1/organizations", json=body, headers=world.admin.headers).status_code == 409
    u = client.post("/v1/users", json={"username": "nurse-c", "password": "longenough", "role": "clinic",
                                        "organization_id": org_id}, headers=world.admin.headers)
    assert u.status_code == 201 and u.json()["organization_id"] == org_id
    login = client.post("/v1/auth/token", data={"username": "nurse-c", "password": "longenough"})
    assert login.status_code == 200


def test_user_role_must_match_organization_kind(client, world):
    r = client.post("/v1/users", json={"username": "mah-user", "role": "mah", "organization_id": world.clinic_a.id},
                    headers=world.admin.headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "organization_id"]
    r = client.post("/v1/users", json={"username": "clinic-user", "role": "clinic"}, headers=world.admin.headers)
    assert r.status_code == 422


def test_clinic_sees_only_its_own_organization(client, world):
    r = client.get("/v1/organizations", headers=world.clinic.headers)
    assert [o["id"] for o in r.json()["items"]] == [world.clinic_a.id]
    assert client.get(f"/v1/organizations/{world.clinic_b.id}", headers=world.clinic.headers).status_code == 404


def _me(client, headers) -> int:
    return client.get("/v1/auth/me", headers=headers).status_code


def test_a_cached_token_still_expires_on_the_service_clock(db, world):
    from fastapi.testclient import TestClient

    from pv_service.app import create_app
    from tests.conftest import NOW

    clock = {"now": NOW}
    app = create_app(clock=lambda: clock["now"], engine=db)
    with TestClient(app) as client:
        assert _me(client, world.clinic.headers) == 200  # now cached
        clock["now"] = NOW + dt.timedelta(minutes=61)  # tokens in these tests live 60 minutes
        assert _me(client, world.clinic.headers) == 401


def test_a_deactivated_user_is_refused_at_once_within_the_cache_ttl(client, app, session, world):
    from pv_service.auth.principal import PrincipalCache

    ticks = {"t": 0.0}
    app.state.principals = PrincipalCache(10, timer=lambda: ticks["t"])
    assert _me(client, world.clinic.headers) == 200
    user = session.get(User, world.clinic.user.id)
    user.is_active = False
    session.add(user)
    session.commit()
    ticks["t"] = 1.0
    assert _me(client, world.clinic.headers) == 401  # the revocation epoch moved: the cached entry is not trusted


def test_without_the_cache_a_deactivated_user_is_refused_at_once(client, app, session, world):
    from pv_service.auth.principal import PrincipalCache

    app.state.principals = PrincipalCache(0)
    assert _me(client, world.clinic.headers) == 200
    user = session.get(User, world.clinic.user.id)
    user.is_active = False
    session.add(user)
    session.commit()
    assert _me(client, world.clinic.headers) == 401
