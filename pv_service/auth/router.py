from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import select

from pv_service.auth import accounts, service
from pv_service.auth.login import LoginRefused, password_login
from pv_service.auth.models import ApiKey, Organization, User
from pv_service.auth.principal import AdminPrincipal, CurrentPrincipal, SessionDep
from pv_service.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    OrganizationCreate,
    OrganizationPublic,
    OrganizationUpdate,
    PasswordReset,
    TokenOut,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from pv_service.auth.security import create_access_token
from pv_service.common.pagination import Page, PageDep, paginate
from pv_service.common.types import DbId
from pv_service.common.vocab import OrgKind, Role
from pv_service.core.db import app_engine
from pv_service.core.deps import Now
from pv_service.core.settings import get_settings

router = APIRouter(prefix="/v1", tags=["access"])


@router.post("/auth/token", response_model=TokenOut, responses={
    429: {"description": "too many attempts for this username or from this address; see Retry-After"}})
async def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], now: Now) -> TokenOut:
    address = request.client.host if request.client else None
    try:
        user = await password_login(app_engine(request), form.username, form.password, address, now)
    except LoginRefused as exc:
        raise HTTPException(exc.status_code, exc.message, headers=exc.headers) from None
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    settings = get_settings()
    token = create_access_token(user.id, user.role, settings.secret_key, settings.access_token_minutes, now,
                                user.token_version)
    return TokenOut(access_token=token, expires_in=settings.access_token_minutes * 60)


@router.get("/auth/me", response_model=UserPublic)
def me(session: SessionDep, principal: CurrentPrincipal) -> User:
    return service.get_user(session, principal.user_id)


def _created(row: ApiKey, key: str) -> ApiKeyCreated:
    return ApiKeyCreated(**ApiKeyPublic.model_validate(row).model_dump(), key=key)


@router.post("/auth/api-keys", response_model=ApiKeyCreated, status_code=201)
def create_api_key(session: SessionDep, principal: CurrentPrincipal, body: ApiKeyCreate, now: Now) -> ApiKeyCreated:
    row, key = accounts.issue_key(session, principal, principal.user_id, body, now)
    session.commit()
    return _created(row, key)


@router.get("/auth/api-keys", response_model=list[ApiKeyPublic])
def list_api_keys(session: SessionDep, principal: CurrentPrincipal) -> list[ApiKey]:
    return accounts.keys_of(session, principal.user_id)


@router.post("/auth/api-keys/{key_id}/revoke", response_model=ApiKeyPublic)
def revoke_api_key(session: SessionDep, principal: CurrentPrincipal, key_id: DbId, now: Now) -> ApiKey:
    """Your own key; an admin, anyone's (a leaked clinic key is revoked centrally)."""
    row = accounts.revoke_key(session, principal, key_id, now)
    session.commit()  # raises the revocation epoch (a trigger): every worker refuses the key from now on
    return row


@router.post("/organizations", response_model=OrganizationPublic, status_code=201)
def create_organization(session: SessionDep, _: AdminPrincipal, body: OrganizationCreate, now: Now) -> Organization:
    org = service.create_organization(session, body, now)
    session.commit()
    return org


@router.get("/organizations", response_model=Page[OrganizationPublic])
def list_organizations(session: SessionDep, principal: CurrentPrincipal, page: PageDep, kind: OrgKind | None = None):
    stmt = select(Organization)
    if kind is not None:
        stmt = stmt.where(Organization.kind == kind.value)
    if principal.role in (Role.clinic, Role.mah):
        stmt = stmt.where(Organization.id == principal.organization_id)
    items, cursor = paginate(session, stmt, Organization.id, page)
    return Page(items=items, next_cursor=cursor)


@router.get("/organizations/{org_id}", response_model=OrganizationPublic)
def get_organization(session: SessionDep, principal: CurrentPrincipal, org_id: DbId) -> Organization:
    if principal.role in (Role.clinic, Role.mah) and org_id != principal.organization_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such organization")
    return service.get_organization(session, org_id)


@router.patch("/organizations/{org_id}", response_model=OrganizationPublic)
def update_organization(session: SessionDep, admin: AdminPrincipal, org_id: DbId, body: OrganizationUpdate,
                        now: Now) -> Organization:
    """NMPA's identifier of a marketing authorisation holder (E2B C.1.CN.3 of its reports to NMPA)."""
    org = service.update_organization(session, admin.user_id, admin.username, org_id, body, now)
    session.commit()
    return org


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(session: SessionDep, admin: AdminPrincipal, body: UserCreate, now: Now) -> User:
    user = service.create_user(session, body, now, admin.user_id, admin.username)
    session.commit()
    return user


@router.get("/users", response_model=Page[UserPublic])
def list_users(session: SessionDep, _: AdminPrincipal, page: PageDep, role: Role | None = None):
    stmt = select(User)
    if role is not None:
        stmt = stmt.where(User.role == role.value)
    items, cursor = paginate(session, stmt, User.id, page)
    return Page(items=items, next_cursor=cursor)


@router.get("/users/{user_id}", response_model=UserPublic)
def get_user(session: SessionDep, _: AdminPrincipal, user_id: DbId) -> User:
    return service.get_user(session, user_id)


@router.patch("/users/{user_id}", response_model=UserPublic)
def update_user(session: SessionDep, admin: AdminPrincipal, user_id: DbId, body: UserUpdate, now: Now) -> User:
    """Deactivate or reactivate (a deactivated user's tokens and keys are refused at once), re-role."""
    user = accounts.update_user(session, admin, user_id, body, now)
    session.commit()
    return user


@router.post("/users/{user_id}/password", response_model=UserPublic)
def reset_password(session: SessionDep, admin: AdminPrincipal, user_id: DbId, body: PasswordReset, now: Now) -> User:
    """Set a new password; every session of the user ends."""
    user = accounts.reset_password(session, admin, user_id, body.password, now)
    session.commit()
    return user


@router.get("/users/{user_id}/api-keys", response_model=list[ApiKeyPublic])
def list_user_api_keys(session: SessionDep, _: AdminPrincipal, user_id: DbId) -> list[ApiKey]:
    service.get_user(session, user_id)
    return accounts.keys_of(session, user_id)


@router.post("/users/{user_id}/api-keys", response_model=ApiKeyCreated, status_code=201)
def issue_user_api_key(session: SessionDep, admin: AdminPrincipal, user_id: DbId, body: ApiKeyCreate,
                       now: Now) -> ApiKeyCreated:
    """A key for any user, above all a service account (a clinic system with no password)."""
    row, key = accounts.issue_key(session, admin, user_id, body, now)
    session.commit()
    return _created(row, key)
