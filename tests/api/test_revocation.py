"""Revocation holds at once in every worker: each app below stands for a worker process
with its own principal cache (a long TTL, so only the revocation epoch can refuse)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pv_service.app import create_app
from pv_service.auth.principal import PrincipalCache
from tests.conftest import NOW


@pytest.fixture
def two_workers(db):
    apps = [create_app(clock=lambda: NOW, engine=db) for _ in range(2)]
    for app in apps:
        app.state.principals = PrincipalCache(300)
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        yield a, b


def _me(client, headers) -> int:
    return client.get("/v1/auth/me", headers=headers).status_code


def test_a_key_revoked_on_one_worker_is_refused_at_once_by_another(two_workers, world):
    a, b = two_workers
    created = a.post("/v1/auth/api-keys", json={"name": "emr"}, headers=world.clinic.headers)
    assert created.status_code == 201, created.text
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    assert _me(a, key) == 200 and _me(b, key) == 200  # both workers have it cached now
    assert a.post(f"/v1/auth/api-keys/{created.json()['id']}/revoke", headers=world.clinic.headers).status_code == 200
    assert _me(b, key) == 401
    assert _me(a, key) == 401


@pytest.mark.parametrize("change", [
    "UPDATE app_user SET is_active = false WHERE username = 'clinic-a'",
    "UPDATE app_user SET token_version = token_version + 1 WHERE username = 'clinic-a'",
])
def test_a_user_changed_by_any_means_is_refused_at_once(two_workers, db, world, change):
    """Even a change made straight in the database (an operator's SQL, another tool) is seen."""
    a, b = two_workers
    assert _me(a, world.clinic.headers) == 200 and _me(b, world.clinic.headers) == 200
    with db.begin() as conn:
        conn.execute(sa.text(change))
    assert _me(a, world.clinic.headers) == 401 and _me(b, world.clinic.headers) == 401
    assert _me(b, world.safety.headers) == 200  # others unaffected


def test_a_key_revoked_in_the_database_is_refused_at_once(two_workers, db, world):
    a, b = two_workers
    key = {"Authorization": "Bearer " + a.post("/v1/auth/api-keys", json={"name": "k"},
                                                 headers=world.clinic.headers).json()["key"]}
    assert _me(b, key) == 200
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE api_key SET revoked_at = created_at"))
    assert _me(b, key) == 401
