"""Key and user management by an admin: service accounts, keys with scopes and expiry,
revocation of anyone's key, deactivation, re-role and password reset; each audited."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from pv_service.audit.models import AuditRecord
from pv_service.auth.models import User
from pv_service.auth.security import hash_password
from tests.api.conftest import register, report_payload
from tests.conftest import NOW


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _audit(session, entity_type: str) -> list[tuple[str, int | None]]:
    rows = session.execute(sa.select(AuditRecord.action, AuditRecord.actor_id, AuditRecord.after)
                           .where(AuditRecord.entity_type == entity_type).order_by(AuditRecord.id)).all()
    return [(r.action, r.actor_id, r.after) for r in rows]


def _service_account(client, world, username="emr-feed"):
    r = client.post("/v1/users", json={"username": username, "role": "clinic", "organization_id": world.clinic_a.id},
                    headers=world.admin.headers)
    assert r.status_code == 201, r.text
    assert r.json()["service_account"] is True
    return r.json()


def test_an_admin_issues_a_key_to_a_service_account_and_revokes_it(client, session, world, treated):
    account = _service_account(client, world)
    r = client.post(f"/v1/users/{account['id']}/api-keys", json={"name": "EMR gateway", "scopes": ["read", "write"]},
                    headers=world.admin.headers)
    assert r.status_code == 201, r.text
    key = r.json()
    assert key["user_id"] == account["id"] and key["scopes"] == ["read", "write"] and key["key"].startswith("pvk_")
    assert client.get("/v1/auth/me", headers=_auth(key["key"])).json()["username"] == "emr-feed"
    listed = client.get(f"/v1/users/{account['id']}/api-keys", headers=world.admin.headers).json()
    assert [k["id"] for k in listed] == [key["id"]] and "key" not in listed[0]
    # A leaked clinic key is revoked centrally.
    assert client.post(f"/v1/auth/api-keys/{key['id']}/revoke", headers=world.admin.headers).status_code == 200
    assert client.get("/v1/auth/me", headers=_auth(key["key"])).status_code == 401
    actions = [(a, actor) for a, actor, _ in _audit(session, "api_key")]
    assert actions == [("issued", world.admin.user.id), ("revoked", world.admin.user.id)]
    assert all("pvk_" not in str(after) for _, _, after in _audit(session, "api_key"))


def test_only_admins_issue_keys_for_others_or_revoke_others_keys(client, world):
    account = _service_account(client, world)
    assert client.post(f"/v1/users/{account['id']}/api-keys", json={"name": "x"},
                       headers=world.clinic.headers).status_code == 403
    own = client.post("/v1/auth/api-keys", json={"name": "mine"}, headers=world.other_clinic.headers).json()
    assert client.post(f"/v1/auth/api-keys/{own['id']}/revoke", headers=world.clinic.headers).status_code == 404


def test_scopes_are_enforced(client, world, treated):
    patient, treatment = treated
    read_only = client.post("/v1/auth/api-keys", json={"name": "dashboard", "scopes": ["read"]},
                            headers=world.clinic.headers).json()["key"]
    reports_only = client.post("/v1/auth/api-keys", json={"name": "gateway", "scopes": ["reports:write"]},
                               headers=world.clinic.headers).json()["key"]
    assert client.get(f"/v1/patients/{patient['id']}", headers=_auth(read_only)).status_code == 200
    refused = client.post("/v1/reports", json=report_payload(patient["id"], treatment["id"]), headers=_auth(read_only))
    assert refused.status_code == 403 and "reports:write" in refused.json()["detail"]
    ok = client.post("/v1/reports", json=report_payload(patient["id"], treatment["id"]), headers=_auth(reports_only))
    assert ok.status_code == 201, ok.text
    assert client.get(f"/v1/patients/{patient['id']}", headers=_auth(reports_only)).status_code == 403
    r = client.post("/v1/patients", json={"local_id": "P-9", "sex": "male", "birth_year": 1980},
                    headers=_auth(reports_only))
    assert r.status_code == 403 and "write" in r.json()["detail"]
    # A key never manages keys or users, whatever its scopes.
    full = client.post("/v1/auth/api-keys", json={"name": "full"}, headers=world.clinic.headers).json()["key"]
    assert client.post("/v1/auth/api-keys", json={"name": "more"}, headers=_auth(full)).status_code == 403
    assert register(client, type("A", (), {"headers": _auth(full)})(), local_id="P-10")["id"]


def test_unknown_scopes_and_past_expiry_are_422(client, world):
    bad = client.post("/v1/auth/api-keys", json={"name": "k", "scopes": ["admin"]}, headers=world.clinic.headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["body", "scopes"]
    none = client.post("/v1/auth/api-keys", json={"name": "k", "scopes": []}, headers=world.clinic.headers)
    assert none.status_code == 422
    past = client.post("/v1/auth/api-keys", json={"name": "k", "expires_at": "2026-11-01T00:00:00Z"},
                       headers=world.clinic.headers)
    assert past.status_code == 422 and past.json()["detail"][0]["loc"] == ["body", "expires_at"]


def test_a_key_expires_on_the_service_clock(db, world):
    from fastapi.testclient import TestClient

    from pv_service.app import create_app

    clock = {"now": NOW}
    with TestClient(create_app(clock=lambda: clock["now"], engine=db)) as client:
        expires = (NOW + dt.timedelta(days=30)).isoformat()
        created = client.post("/v1/auth/api-keys", json={"name": "k", "expires_at": expires},
                              headers=world.clinic.headers)
        assert created.status_code == 201 and created.json()["expires_at"].startswith("2026-12-23")
        key = _auth(created.json()["key"])
        assert client.get("/v1/auth/me", headers=key).status_code == 200
        clock["now"] = NOW + dt.timedelta(days=30, seconds=1)
        assert client.get("/v1/auth/me", headers=key).status_code == 401


def test_deactivation_refuses_the_users_tokens_and_keys_at_once(client, session, world):
    key = client.post("/v1/auth/api-keys", json={"name": "k"}, headers=world.clinic.headers).json()["key"]
    assert client.get("/v1/auth/me", headers=_auth(key)).status_code == 200
    r = client.patch(f"/v1/users/{world.clinic.user.id}", json={"is_active": False}, headers=world.admin.headers)
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert client.get("/v1/auth/me", headers=world.clinic.headers).status_code == 401
    assert client.get("/v1/auth/me", headers=_auth(key)).status_code == 401
    client.patch(f"/v1/users/{world.clinic.user.id}", json={"is_active": True}, headers=world.admin.headers)
    assert client.get("/v1/auth/me", headers=_auth(key)).status_code == 200
    assert [a for a, _, _ in _audit(session, "user")] == ["updated", "updated"]


def test_re_role_checks_the_organization_and_ends_sessions(client, world):
    wrong = client.patch(f"/v1/users/{world.clinic.user.id}", json={"role": "mah"}, headers=world.admin.headers)
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "organization_id"]
    r = client.patch(f"/v1/users/{world.clinic.user.id}", json={"role": "mah", "organization_id": world.mah_a.id},
                     headers=world.admin.headers)
    assert r.status_code == 200 and r.json()["role"] == "mah"
    assert client.get("/v1/auth/me", headers=world.clinic.headers).status_code == 401


def test_an_admin_cannot_lock_themselves_out(client, world):
    for body in ({"is_active": False}, {"role": "clinic", "organization_id": world.clinic_a.id}):
        r = client.patch(f"/v1/users/{world.admin.user.id}", json=body, headers=world.admin.headers)
        assert r.status_code == 409
    assert client.patch("/v1/users/999999", json={"is_active": False}, headers=world.admin.headers).status_code == 404


def test_password_reset_sets_a_new_password_and_ends_sessions(client, session, world):
    user = session.get(User, world.safety.user.id)
    user.password_hash = hash_password("old-password-1")
    session.add(user)
    session.commit()
    old = client.post("/v1/auth/token", data={"username": "safety", "password": "old-password-1"}).json()
    r = client.post(f"/v1/users/{user.id}/password", json={"password": "new-password-2"}, headers=world.admin.headers)
    assert r.status_code == 200, r.text
    assert client.get("/v1/auth/me", headers=_auth(old["access_token"])).status_code == 401
    assert client.get("/v1/auth/me", headers=world.safety.headers).status_code == 401
    assert client.post("/v1/auth/token", data={"username": "safety", "password": "old-password-1"}).status_code == 401
    assert client.post("/v1/auth/token", data={"username": "safety", "password": "new-password-2"}).status_code == 200
    short = client.post(f"/v1/users/{user.id}/password", json={"password": "short"}, headers=world.admin.headers)
    assert short.status_code == 422
    audit = _audit(session, "user")
    assert [a for a, _, _ in audit] == ["password_reset"] and "new-password-2" not in str(audit)
