"""Organizations, users and API keys."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from pv_service.audit import chain as audit
from pv_service.auth.models import ApiKey, Organization, User
from pv_service.auth.schemas import OrganizationCreate, UserCreate
from pv_service.auth.security import (
    hash_api_key,
    hash_password,
    new_api_key,
)
from pv_service.common.errors import Conflict, InvalidInput
from pv_service.common.lookup import get_or_404
from pv_service.common.vocab import OrgKind, Role

# Which organization kind each role must belong to (None: any, or none at all).
ROLE_ORG_KIND: dict[Role, OrgKind | None] = {
    Role.clinic: OrgKind.clinic,
    Role.mah: OrgKind.mah,
    Role.safety_officer: None,
    Role.admin: None,
}


def create_organization(session: Session, data: OrganizationCreate, now: dt.datetime) -> Organization:
    if session.exec(select(Organization).where(Organization.name == data.name)).first():
        raise Conflict(f"an organization named {data.name!r} exists")
    org = Organization(name=data.name, kind=data.kind.value, country=data.country, created_at=now)
    session.add(org)
    session.flush()
    return org


def create_user(session: Session, data: UserCreate, now: dt.datetime, actor_id: int | None = None,
                actor: str = "cli") -> User:
    if session.exec(select(User).where(User.username == data.username)).first():
        raise Conflict(f"user {data.username!r} exists")
    needed = ROLE_ORG_KIND[data.role]
    if data.organization_id is not None:
        org = session.get(Organization, data.organization_id)
        if org is None:
            raise InvalidInput.one(("body", "organization_id"), "no such organization")
        if needed is not None and org.kind != needed:
            raise InvalidInput.one(
                ("body", "organization_id"), f"a {data.role.value} user must belong to a {needed.value} organization"
            )
    elif needed is not None:
        raise InvalidInput.one(("body", "organization_id"), f"required for role {data.role.value}")
    user = User(
        username=data.username,
        password_hash=hash_password(data.password) if data.password else None,
        role=data.role.value,
        organization_id=data.organization_id,
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor_id=actor_id, actor=actor, entity_type="user", entity_id=user.id, action="created",
                 before=None, after={"username": user.username, "role": user.role,
                                     "organization_id": user.organization_id}, now=now)
    return user


def issue_api_key(session: Session, user_id: int, name: str, now: dt.datetime) -> tuple[ApiKey, str]:
    key = new_api_key()
    row = ApiKey(user_id=user_id, name=name, key_hash=hash_api_key(key), created_at=now)
    session.add(row)
    session.flush()
    return row, key


def revoke_api_key(session: Session, user_id: int, key_id: int, now: dt.datetime) -> ApiKey:
    row = get_or_404(session, ApiKey, key_id, "no such API key", lambda k: k.user_id == user_id)
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
    return row


def get_organization(session: Session, org_id: int) -> Organization:
    return get_or_404(session, Organization, org_id, "no such organization")


def get_user(session: Session, user_id: int) -> User:
    return get_or_404(session, User, user_id, "no such user")
