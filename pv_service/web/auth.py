"""The cookie session of the web pages.

The cookie carries the same JWT the API issues (``create_access_token``), httpOnly and
SameSite=Lax, scoped to ``/ui``; the API itself never reads it, so the API is not
exposed to cross-site requests. Every POST form also carries a CSRF token derived
from the session's JWT (an HMAC keyed with the secret key), checked before any change.
The login form has its own double-submit token (a random cookie echoed in the form),
so another site cannot log a browser in under someone else's account.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response

from pv_service.auth.principal import Principal, resolve_token
from pv_service.auth.security import API_KEY_PREFIX
from pv_service.common.vocab import Role
from pv_service.core.settings import get_settings

SESSION_COOKIE = "pv_session"
LOGIN_COOKIE = "pv_login_csrf"
COOKIE_PATH = "/ui"


class LoginRequired(Exception):
    """No valid session: send the browser to the login page."""

    def __init__(self, expired: bool = False):
        super().__init__("login required")
        self.expired = expired


class NotSafetyOfficer(Exception):
    """A valid user whose role may not use the web pages."""

    def __init__(self, principal: Principal):
        super().__init__(f"role {principal.role.value} may not use the web pages")
        self.principal = principal


class NotAdmin(Exception):
    """A valid user who may not use the account pages."""

    def __init__(self, principal: Principal):
        super().__init__(f"role {principal.role.value} may not manage accounts")
        self.principal = principal


class CsrfRejected(Exception):
    """A POST without the form token of the current session."""


@dataclass(frozen=True)
class WebSession:
    principal: Principal
    csrf: str


def csrf_for(token: str) -> str:
    """The form token of a session: HMAC(secret key, JWT). Changes with every login."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, b"csrf|" + token.encode(), hashlib.sha256).hexdigest()


def tokens_match(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


# Who may sign in to the web pages: safety officers (alerts, compliance, audit) and admins (accounts).
WEB_ROLES = (Role.safety_officer, Role.admin)


async def signed_in(request: Request) -> WebSession:
    """The signed-in user of the web pages, judged against the service clock (a logout or a
    password reset ends the session at once: the token's version is checked)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired()
    if token.startswith(API_KEY_PREFIX):
        raise LoginRequired(expired=True)
    try:
        principal = await resolve_token(request, token)
    except HTTPException:
        raise LoginRequired(expired=True) from None
    if principal.role not in WEB_ROLES:
        raise NotSafetyOfficer(principal)
    return WebSession(principal, csrf_for(token))


async def current_session(request: Request) -> WebSession:
    """The signed-in safety officer."""
    web = await signed_in(request)
    if web.principal.role != Role.safety_officer:
        raise NotSafetyOfficer(web.principal)
    return web


async def current_admin(request: Request) -> WebSession:
    web = await signed_in(request)
    if web.principal.role != Role.admin:
        raise NotAdmin(web.principal)
    return web


Officer = Annotated[WebSession, Depends(current_session)]
AdminWeb = Annotated[WebSession, Depends(current_admin)]
SignedIn = Annotated[WebSession, Depends(signed_in)]


def check_csrf(web: WebSession, given: str | None) -> None:
    if not tokens_match(web.csrf, given):
        raise CsrfRejected()


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=get_settings().access_token_minutes * 60, path=COOKIE_PATH,
                        httponly=True, samesite="lax", secure=_secure(request))


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=_secure(request))


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def set_login_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(LOGIN_COOKIE, value, max_age=3600, path=COOKIE_PATH, httponly=True, samesite="lax",
                        secure=_secure(request))


def safe_next(target: str | None) -> str:
    """Only a path inside the web pages (no open redirect to another site)."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui"
