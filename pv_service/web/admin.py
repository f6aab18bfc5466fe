"""The admins' account page under /ui/admin: users and their API keys; deactivate and
reactivate users, revoke keys, issue a key (shown once). The rules are pv_service.auth.accounts'."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, select

from pv_service.auth import accounts
from pv_service.auth.models import ApiKey, Organization, User
from pv_service.auth.schemas import SCOPE_HELP, ApiKeyCreate, UserUpdate
from pv_service.auth.scopes import SCOPES
from pv_service.common.errors import DomainError, InvalidInput
from pv_service.core.clock import as_utc
from pv_service.core.deps import Now
from pv_service.auth.principal import SessionDep
from pv_service.web.auth import AdminWeb, WebSession, check_csrf
from pv_service.web.router import UIRoute, render

router = APIRouter(route_class=UIRoute, include_in_schema=False)
MAX_USERS = 500  # the page lists this many users (by id); the API pages through all
DONE = {"revoked": "Key revoked.", "deactivated": "User deactivated: their sessions and keys are refused now.",
        "reactivated": "User reactivated."}


def _key_state(key: ApiKey, now: dt.datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and as_utc(key.expires_at) <= now:
        return "expired"
    return "active"


def _page(request: Request, session: Session, web: WebSession, now: dt.datetime, *, error: str | None = None,
          done: str | None = None, new_key: dict | None = None, status_code: int = 200) -> Response:
    users = list(session.exec(select(User).order_by(User.id).limit(MAX_USERS)).all())
    orgs = {o.id: o.name for o in session.exec(select(Organization))}
    keys = list(session.exec(select(ApiKey).where(ApiKey.user_id.in_([u.id for u in users])).order_by(ApiKey.id)))
    names = {u.id: u.username for u in users}
    response = render(request, "admin.html", {
        "web": web, "nav": "admin", "users": users, "orgs": orgs, "names": names, "error": error,
        "done": DONE.get(done or ""), "new_key": new_key, "scopes": SCOPES, "scope_help": SCOPE_HELP,
        "keys": [(k, _key_state(k, now)) for k in keys], "today": now.date(),
    }, status_code)
    response.headers["Cache-Control"] = "no-store"  # a page may show a new key once
    return response


@router.get("/ui/admin")
def admin_page(request: Request, web: AdminWeb, session: SessionDep, now: Now, done: str = "") -> Response:
    return _page(request, session, web, now, done=done)


def _expiry(value: str) -> dt.datetime | None:
    """A key "valid until" a date (UTC) expires at the end of that day."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput.one(("form", "valid_until"), "not a date (YYYY-MM-DD)") from None
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.timezone.utc)


@router.post("/ui/admin/keys")
def issue_key(request: Request, web: AdminWeb, session: SessionDep, now: Now,
              user_id: Annotated[int, Form()], name: Annotated[str, Form(max_length=100)] = "",
              scopes: Annotated[list[str], Form()] = [], valid_until: Annotated[str, Form(max_length=20)] = "",  # noqa: B006
              csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(web, csrf_token)
    try:
        data = ApiKeyCreate(name=name.strip(), scopes=scopes, expires_at=_expiry(valid_until))
        row, key = accounts.issue_key(session, web.principal, user_id, data, now)
    except ValidationError as exc:
        session.rollback()
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _page(request, session, web, now, error=message, status_code=422)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, web, now, error=exc.message, status_code=exc.status_code)
    session.commit()
    owner = session.get(User, row.user_id)
    return _page(request, session, web, now, status_code=201,
                 new_key={"key": key, "name": row.name, "user": owner.username, "scopes": row.scopes})


@router.post("/ui/admin/keys/{key_id}/revoke")
def revoke_key(request: Request, web: AdminWeb, session: SessionDep, now: Now, key_id: int,
               csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(web, csrf_token)
    accounts.revoke_key(session, web.principal, key_id, now)
    session.commit()
    return RedirectResponse("/ui/admin?done=revoked", status_code=303)


@router.post("/ui/admin/users/{user_id}/active")
def set_active(request: Request, web: AdminWeb, session: SessionDep, now: Now, user_id: int,
               active: Annotated[bool, Form()], csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(web, csrf_token)
    try:
        accounts.update_user(session, web.principal, user_id, UserUpdate(is_active=active), now)
    except DomainError as exc:
        session.rollback()
        if exc.status_code == 404:
            raise
        return _page(request, session, web, now, error=exc.message, status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"/ui/admin?done={'reactivated' if active else 'deactivated'}", status_code=303)
