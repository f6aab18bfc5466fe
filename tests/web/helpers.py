"""Helpers for the web page tests: sign in through the form, read tokens out of pages, make alerts."""
from __future__ import annotations

import re

from pv_service.alerting.models import Alert
from pv_service.alerting.reconcile import log_event
from pv_service.auth.security import create_access_token, hash_password
from pv_service.core.settings import get_settings
from pv_service.web.auth import SESSION_COOKIE
from tests.conftest import NOW

PASSWORD = "correct horse battery"


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def set_password(session, user, password: str = PASSWORD) -> None:
    user.password_hash = hash_password(password)
    session.add(user)
    session.commit()


def login(client, username: str, password: str = PASSWORD, next_: str = "/ui"):
    page = client.get("/ui/login", params={"next": next_})
    return client.post("/ui/login", data={"username": username, "password": password, "next": next_,
                                          "login_csrf": hidden(page.text, "login_csrf")}, follow_redirects=False)


def use_session_of(client, user, now=NOW, minutes: int = 60) -> None:
    """Put a session cookie for `user` in the client, as a login would."""
    token = create_access_token(user.id, user.role, get_settings().secret_key, minutes, now)
    client.cookies.set(SESSION_COOKIE, token)


def signed_in(client, session, user) -> None:
    set_password(session, user)
    r = login(client, user.username)
    assert r.status_code == 303, r.text


def csrf_of(client, path: str = "/ui/alerts") -> str:
    return hidden(client.get(path).text, "csrf_token")


def make_alert(session, *, key: str, type: str = "signal", status: str | None = None, priority: float = 50.0,
               severity: str = "high", title: str | None = None, product_id: int | None = None,
               detail: dict | None = None, subject_type: str = "pair", subject_id: int | None = None) -> Alert:
    status = status or ("new" if type == "signal" else "open")
    alert = Alert(key=key, type=type, status=status, severity=severity, priority=priority, title=title or key,
                  subject_type=subject_type, subject_id=subject_id, product_id=product_id, detail=detail or {},
                  first_raised_at=NOW, last_seen_at=NOW)
    session.add(alert)
    session.flush()
    log_event(session, alert, NOW, "raised", None, status)
    session.commit()
    return alert


def signal_detail(product: str, event: str, *, level: str = "pt", terms: list[str] | None = None,
                  run_id: int | None = None, rule: str = "statistical", **measures) -> dict:
    base = {"n": 4, "n_product": 10, "n_event": 6, "n_total": 50, "expected": 1.2, "prr": 5.0, "prr_lower": 1.5,
            "prr_upper": 16.5, "chi2": 6.25, "ror": 12.0, "ror_lower": 1.9, "ror_upper": 75.0, "ic": 1.5,
            "ic025": 0.2, "ic975": 2.4, "ebgm": 2.8, "eb05": 1.4, "eb95": 5.1}
    base.update(measures)
    return {"product": product, "event": event, "level": level, "terms": terms or [event], "run_id": run_id,
            "n": base["n"], "measures": base, "rule": rule, "criteria_met": ["prr", "ror"], "serious_fraction": 0.75}
