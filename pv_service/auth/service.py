"""Organizations, users and API keys."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from pv_service.audit import chain as audit
from pv_service.auth.models import Organization, User
from pv_service.auth.schemas import OrganizationCreate, OrganizationUpdate, UserCreate
from pv_service.auth.accounts import check_role_organization
from pv_service.auth.security import hash_password
from pv_service.common.errors import Conflict
from pv_service.common.lookup import get_or_404

def create_organization(session: Session, data: OrganizationCreate, now: dt.datetime) -> Organization:
    if session.exec(select(Organization).where(Organization.name == data.name)).first():
        raise Conflict(f"an organization named {data.name!r} exists")
    org = Organization(name=data.name, kind=data.kind.value, country=data.country, nmpa_holder_id=data.nmpa_holder_id,
                       created_at=now)
    session.add(org)
    session.flush()
    return org


def create_user(session: Session, data: UserCreate, now: dt.datetime, actor_id: int | None = None,
                actor: str = "cli") -> User:
    if session.exec(select(User).where(User.username == data.username)).first():
        raise Conflict(f"user {data.username!r} exists")
    check_role_organization(session, data.role, data.organization_id)
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


def get_organization(session: Session, org_id: int) -> Organization:
    return get_or_404(session, Organization, org_id, "no such organization")


def update_organization(session: Session, actor_id: int | None, actor: str, org_id: int, data: OrganizationUpdate,
                        now: dt.datetime) -> Organization:
    """Sets (or, with null, removes) NMPA's holder identifier; audited."""
    org = get_organization(session, org_id)
    before = {"nmpa_holder_id": org.nmpa_holder_id}
    org.nmpa_holder_id = data.nmpa_holder_id
    session.add(org)
    session.flush()
    after = {"nmpa_holder_id": org.nmpa_holder_id}
    if after != before:
        audit.record(session, actor_id=actor_id, actor=actor, entity_type="organization", entity_id=org.id,
                     action="updated", before=before, after=after, now=now)
    return org


def get_user(session: Session, user_id: int) -> User:
    return get_or_404(session, User, user_id, "no such user")
