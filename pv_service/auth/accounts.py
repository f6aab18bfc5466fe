"""What an admin does to accounts: keys for any user (service accounts above all), revoking
anyone's key, deactivating, re-roling and resetting passwords. Every change is audited;
every one that takes access away raises the revocation epoch (database triggers), so it
holds in every worker from the next request on.
"""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from pv_service.audit import chain as audit
from pv_service.auth.models import ApiKey, Organization, User
from pv_service.auth.principal import Principal
from pv_service.auth.schemas import ApiKeyCreate, UserUpdate
from pv_service.auth.security import hash_api_key, hash_password, new_api_key
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


def check_role_organization(session: Session, role: Role, organization_id: int | None) -> None:
    """A clinic user belongs to a clinic, an MAH user to an MAH (422 naming organization_id)."""
    needed = ROLE_ORG_KIND[role]
    if organization_id is not None:
        org = session.get(Organization, organization_id)
        if org is None:
            raise InvalidInput.one(("body", "organization_id"), "no such organization")
        if needed is not None and org.kind != needed:
            raise InvalidInput.one(
                ("body", "organization_id"), f"a {role.value} user must belong to a {needed.value} organization")
    elif needed is not None:
        raise InvalidInput.one(("body", "organization_id"), f"required for role {role.value}")


def _key_view(row: ApiKey) -> dict:
    # Never the key itself (only its hash is stored anyway).
    return {"user_id": row.user_id, "name": row.name, "scopes": row.scopes, "expires_at": row.expires_at,
            "revoked_at": row.revoked_at}


def _user_view(user: User) -> dict:
    return {"username": user.username, "role": user.role, "organization_id": user.organization_id,
            "is_active": user.is_active}


def issue_key(session: Session, actor: Principal, user_id: int, data: ApiKeyCreate, now: dt.datetime
              ) -> tuple[ApiKey, str]:
    user = get_or_404(session, User, user_id, "no such user")
    if not user.is_active:
        raise Conflict(f"user {user.username!r} is deactivated; reactivate it first")
    if data.expires_at is not None and data.expires_at <= now:
        raise InvalidInput.one(("body", "expires_at"), "must be in the future")
    key = new_api_key()
    row = ApiKey(user_id=user.id, name=data.name, key_hash=hash_api_key(key), created_at=now,
                 scopes=" ".join(data.scopes), expires_at=data.expires_at)
    session.add(row)
    session.flush()
    audit.record(session, actor_id=actor.user_id, actor=actor.username, entity_type="api_key", entity_id=row.id,
                 action="issued", before=None, after=_key_view(row), now=now)
    return row, key


def keys_of(session: Session, user_id: int) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)).all())


def revoke_key(session: Session, actor: Principal, key_id: int, now: dt.datetime) -> ApiKey:
    """The caller's own key, or anyone's for an admin (others' keys are not found, not forbidden)."""
    row = get_or_404(session, ApiKey, key_id, "no such API key",
                     lambda k: actor.role == Role.admin or k.user_id == actor.user_id)
    if row.revoked_at is None:
        before = _key_view(row)
        row.revoked_at = now
        session.add(row)
        session.flush()
        audit.record(session, actor_id=actor.user_id, actor=actor.username, entity_type="api_key", entity_id=row.id,
                     action="revoked", before=before, after=_key_view(row), now=now)
    return row


def update_user(session: Session, actor: Principal, user_id: int, data: UserUpdate, now: dt.datetime) -> User:
    user = get_or_404(session, User, user_id, "no such user")
    # null means "unchanged" for role and is_active; for organization_id it means "none".
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None or k == "organization_id"}
    if user.id == actor.user_id and (changes.get("is_active") is False
                                     or changes.get("role", Role.admin) != Role.admin):
        raise Conflict("an admin cannot deactivate or re-role themselves (another admin can)")
    before = _user_view(user)
    role = Role(changes.get("role", user.role))
    organization_id = changes["organization_id"] if "organization_id" in changes else user.organization_id
    if "role" in changes or "organization_id" in changes:
        check_role_organization(session, role, organization_id)
    if role.value != user.role or organization_id != user.organization_id:
        user.token_version += 1  # what the user's sessions were granted no longer holds
    user.role, user.organization_id = role.value, organization_id
    if "is_active" in changes:
        user.is_active = changes["is_active"]
    session.add(user)
    session.flush()
    after = _user_view(user)
    if after != before:
        audit.record(session, actor_id=actor.user_id, actor=actor.username, entity_type="user", entity_id=user.id,
                     action="updated", before=before, after=after, now=now)
    return user


def reset_password(session: Session, actor: Principal, user_id: int, password: str, now: dt.datetime) -> User:
    """A new password set by an admin; every session of the user ends (keys are kept: revoke them apart)."""
    user = get_or_404(session, User, user_id, "no such user")
    user.password_hash = hash_password(password)
    user.token_version += 1
    session.add(user)
    session.flush()
    audit.record(session, actor_id=actor.user_id, actor=actor.username, entity_type="user", entity_id=user.id,
                 action="password_reset", before=None, after={"sessions_ended": True}, now=now)
    return user


def end_sessions(session: Session, user_id: int) -> None:
    """Sign a user out everywhere (the web logout): tokens issued before now are refused."""
    user = session.get(User, user_id)
    if user is not None:
        user.token_version += 1
        session.add(user)
