"""Who is calling, and the dependencies that let a route demand a role."""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from pv_service.auth.models import ApiKey, Organization, User
from pv_service.auth.revocation import current_epoch
from pv_service.auth.scopes import check_scope, parse_scopes
from pv_service.auth.security import API_KEY_PREFIX, decode_access_token, hash_api_key
from pv_service.common.vocab import Role
from pv_service.core.clock import as_utc
from pv_service.core.db import app_engine, get_session, session_scope
from pv_service.core.deps import clock_of
from pv_service.core.settings import get_settings

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role
    organization_id: int | None
    organization_country: str | None = None
    # What an API key may do (pv_service.auth.scopes); None for a signed-in session (all its role allows).
    scopes: frozenset[str] | None = None

    def is_(self, *roles: Role) -> bool:
        return self.role in roles

    @property
    def via_api_key(self) -> bool:
        return self.scopes is not None


_USER = select(User.id, User.username, User.role, User.organization_id, User.is_active, User.token_version,
               Organization.country).outerjoin(Organization, Organization.id == User.organization_id)
_BY_USER_ID = _USER.where(User.id == bindparam("user_id"))
_BY_API_KEY = _USER.add_columns(ApiKey.scopes, ApiKey.expires_at).join(ApiKey, ApiKey.user_id == User.id).where(
    ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True)
class _Resolved:
    principal: Principal
    expires: dt.datetime | None  # the access token's or API key's expiry (None: a key without one)
    epoch: int  # the revocation epoch read before resolving: the entry is trusted while it is current


def _resolve(engine: Engine, token: str, now: dt.datetime, epoch: int) -> _Resolved:
    # One prebuilt Core query: this runs on every call the cache cannot answer.
    scopes = None
    with session_scope(engine) as session:
        if token.startswith(API_KEY_PREFIX):
            row = session.execute(_BY_API_KEY, {"key_hash": hash_api_key(token)}).first()
            if row is not None:
                expires = as_utc(row.expires_at) if row.expires_at is not None else None
                scopes = parse_scopes(row.scopes)
        else:
            claims = decode_access_token(token, get_settings().secret_key, now)
            if claims is None:
                raise _unauthorized("invalid or expired credentials")
            row = session.execute(_BY_USER_ID, {"user_id": claims.user_id}).first()
            expires = claims.expires
            if row is not None and row.token_version != claims.version:
                row = None  # signed out, password reset or re-roled since the token was issued
    if row is None or not row.is_active or (expires is not None and expires <= now):
        raise _unauthorized("invalid or expired credentials")
    principal = Principal(row.id, row.username, Role(row.role), row.organization_id, row.country, scopes)
    return _Resolved(principal, expires, epoch)


class PrincipalCache:
    """Tokens resolved in the last few seconds, per worker process.

    Saves a join and a thread-pool hop on most calls; every call still reads the
    revocation epoch (one primary-key read), and an entry resolved at an older epoch is
    resolved again, so a revoked key or session, or a deactivated user, is refused by
    every worker from the next request on.
    """

    def __init__(self, ttl_seconds: float, maxsize: int = 10_000, timer=time.monotonic):
        self._cache = TTLCache(maxsize=maxsize, ttl=ttl_seconds, timer=timer) if ttl_seconds > 0 else None

    async def resolve(self, engine: Engine, token: str, now: dt.datetime, epoch: int) -> Principal:
        hit = self._cache.get(token) if self._cache is not None else None
        if hit is None or hit.epoch != epoch or (hit.expires is not None and hit.expires <= now):
            hit = await run_in_threadpool(_resolve, engine, token, now, epoch)
            if self._cache is not None:
                self._cache[token] = hit
        return hit.principal

    def clear(self) -> None:
        if self._cache is not None:
            self._cache.clear()


def principal_cache(request: Request) -> PrincipalCache:
    cache = getattr(request.app.state, "principals", None)
    if cache is None:
        cache = request.app.state.principals = PrincipalCache(get_settings().principal_cache_seconds)
    return cache


async def resolve_token(request: Request, token: str) -> Principal:
    """The principal of a bearer token or session cookie, as of this request (401 if none)."""
    epoch = await current_epoch(request)  # first: an entry resolved after this read cannot be stale-tagged
    # The clock read directly rather than through the Now dependency: one dependency fewer per call.
    return await principal_cache(request).resolve(app_engine(request), token, clock_of(request)(), epoch)


async def get_principal(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]) -> Principal:
    if not token:
        raise _unauthorized("not authenticated")
    principal = await resolve_token(request, token)
    check_scope(request, principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role):
    """Dependency factory: the caller must hold one of `roles`."""

    # Async, and resolving the token itself rather than through get_principal: FastAPI's
    # cost per dependency is a measurable part of a report's (a sync one also costs a hop
    # through the thread pool).
    async def check(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]) -> Principal:
        principal = await get_principal(request, token)
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"requires role: {', '.join(roles)}")
        return principal

    return check


AdminPrincipal = Annotated[Principal, Depends(require(Role.admin))]
ClinicPrincipal = Annotated[Principal, Depends(require(Role.clinic))]
# Roles that may read patient-level safety data (each further scoped by tenant).
DataReader = Annotated[Principal, Depends(require(Role.clinic, Role.mah, Role.safety_officer))]
