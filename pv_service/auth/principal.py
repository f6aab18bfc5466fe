"""Who is calling, and the dependencies that let a route demand a role."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam
from sqlmodel import Session, select

from pv_service.auth.models import ApiKey, Organization, User
from pv_service.auth.security import API_KEY_PREFIX, decode_access_token, hash_api_key
from pv_service.common.vocab import Role
from pv_service.core.db import get_session
from pv_service.core.deps import Now
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

    def is_(self, *roles: Role) -> bool:
        return self.role in roles


_USER = select(User.id, User.username, User.role, User.organization_id, User.is_active, Organization.country).outerjoin(
    Organization, Organization.id == User.organization_id)
_BY_USER_ID = _USER.where(User.id == bindparam("user_id"))
_BY_API_KEY = _USER.join(ApiKey, ApiKey.user_id == User.id).where(
    ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def get_principal(
    session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)], now: Now
) -> Principal:
    if not token:
        raise _unauthorized("not authenticated")
    # One prebuilt Core query per request: this runs on every call.
    if token.startswith(API_KEY_PREFIX):
        row = session.execute(_BY_API_KEY, {"key_hash": hash_api_key(token)}).first()
    else:
        user_id = decode_access_token(token, get_settings().secret_key, now)
        if user_id is None:
            raise _unauthorized("invalid or expired credentials")
        row = session.execute(_BY_USER_ID, {"user_id": user_id}).first()
    if row is None or not row.is_active:
        raise _unauthorized("invalid or expired credentials")
    return Principal(row.id, row.username, Role(row.role), row.organization_id, row.country)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role):
    """Dependency factory: the caller must hold one of `roles`."""

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"requires role: {', '.join(roles)}")
        return principal

    return check


AdminPrincipal = Annotated[Principal, Depends(require(Role.admin))]
ClinicPrincipal = Annotated[Principal, Depends(require(Role.clinic))]
# Roles that may read patient-level safety data (each further scoped by tenant).
DataReader = Annotated[Principal, Depends(require(Role.clinic, Role.mah, Role.safety_officer))]
