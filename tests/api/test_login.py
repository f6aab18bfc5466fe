"""Password sign-in: throttled per username and per address (shared by all workers), one
hash check whoever the user is, and hash checks bounded so a burst cannot starve others."""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from pv_service.app import create_app
from pv_service.auth import security
from pv_service.auth.models import User
from pv_service.auth.security import hash_password
from pv_service.core.settings import get_settings
from tests.conftest import NOW
from tests.web.helpers import hidden

PASSWORD = "right-password-1"


@pytest.fixture
def clock():
    return {"now": NOW}


@pytest.fixture
def apps(db, clock):
    """Two workers on one database."""
    return [create_app(clock=lambda: clock["now"], engine=db) for _ in range(2)]


@pytest.fixture
def clients(apps):
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        yield a, b


@pytest.fixture
def alice(session, world):
    user = User(username="alice", password_hash=hash_password(PASSWORD), role="safety_officer",
                organization_id=world.operator.id, created_at=NOW)
    session.add(user)
    session.commit()
    return user


def _token(client, username="alice", password=PASSWORD):
    return client.post("/v1/auth/token", data={"username": username, "password": password})


def test_a_username_is_locked_after_five_failures_on_any_worker(clients, clock, alice):
    a, b = clients
    for i in range(5):
        assert _token(a if i % 2 else b, password=f"wrong-{i}").status_code == 401
    refused = _token(b)  # even the right password, on the other worker
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) == 900
    clock["now"] = NOW + dt.timedelta(seconds=600)
    assert int(_token(a).headers["Retry-After"]) == 300
    clock["now"] = NOW + dt.timedelta(seconds=901)
    assert _token(a).status_code == 200


def test_unknown_usernames_are_locked_the_same_way(clients, world):
    a, _ = clients
    codes = [_token(a, username="nobody", password="x").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]


def test_success_clears_the_username_count(clients, alice):
    a, _ = clients
    for _ in range(4):
        assert _token(a, password="wrong").status_code == 401
    assert _token(a).status_code == 200
    for _ in range(4):
        assert _token(a, password="wrong").status_code == 401
    assert _token(a).status_code == 200


def test_an_address_is_locked_after_many_usernames(clients, alice, monkeypatch):
    monkeypatch.setattr(get_settings(), "login_attempts_per_address", 3)
    a, _ = clients
    assert [_token(a, username=f"user-{i}", password="x").status_code for i in range(3)] == [401] * 3
    refused = _token(a)
    assert refused.status_code == 429 and "Retry-After" in refused.headers


def test_the_web_login_is_throttled_too(clients, alice):
    a, _ = clients
    page, codes = a.get("/ui/login"), []
    for password in ["wrong"] * 5 + [PASSWORD]:
        page = a.post("/ui/login", data={"username": "alice", "password": password,
                                         "login_csrf": hidden(page.text, "login_csrf")}, follow_redirects=False)
        codes.append(page.status_code)
    assert codes == [401] * 5 + [429]
    assert page.status_code == 429 and page.headers["Retry-After"] == "900"
    assert "Too many sign-in attempts" in page.text


@pytest.fixture
def counted_verify(monkeypatch):
    calls = []
    real = security._hasher.verify

    def verify(password, hash_):
        calls.append(hash_)
        return real(password, hash_)

    monkeypatch.setattr(security._hasher, "verify", verify)
    return calls


@pytest.mark.parametrize("username", ["alice", "nobody", "system-feed", "retired"])
def test_every_refusal_costs_exactly_one_hash_check(clients, session, world, alice, counted_verify, username):
    session.add(User(username="system-feed", role="clinic", organization_id=world.clinic_a.id, created_at=NOW))
    session.add(User(username="retired", password_hash=hash_password(PASSWORD), role="clinic", is_active=False,
                     organization_id=world.clinic_a.id, created_at=NOW))
    session.commit()
    counted_verify.clear()
    a, _ = clients
    assert _token(a, username=username, password="wrong-password").status_code == 401
    assert len(counted_verify) == 1
    assert counted_verify[0]  # a real argon2 hash was checked, never an empty one


def test_a_burst_of_sign_ins_runs_few_hash_checks_at_once_and_others_are_served(apps, alice, monkeypatch):
    """16 concurrent sign-ins (the hash check made slow): at most `password_hash_concurrency`
    checks at once, and a request to another endpoint is answered while they queue."""
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow_verify(password, hash_):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        return False

    monkeypatch.setattr(security._hasher, "verify", slow_verify)
    limit = get_settings().password_hash_concurrency

    async def run():
        transport = httpx.ASGITransport(app=apps[0])
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            logins = [asyncio.create_task(client.post("/v1/auth/token", data={"username": f"u{i}", "password": "x"}))
                      for i in range(16)]
            await asyncio.sleep(0.05)
            started = time.monotonic()
            health = await client.get("/health")
            health_took = time.monotonic() - started
            done = await asyncio.gather(*logins)
        return health, health_took, done

    health, health_took, done = asyncio.run(run())
    assert [r.status_code for r in done] == [401] * 16
    assert state["max"] <= limit
    assert health.status_code == 200
    assert health_took < 16 * 0.1 / limit / 2  # well before the queue of hash checks drains
