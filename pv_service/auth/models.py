from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from pv_service.core.db import UTCDateTime


class Organization(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    kind: str = Field(max_length=20, index=True)
    country: str | None = Field(default=None, max_length=2)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    # NMPA's identifier of a marketing authorisation holder: E2B C.1.CN.3 of its reports to NMPA.
    nmpa_holder_id: str | None = Field(default=None, max_length=100)


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, sa_column_kwargs={"unique": True})
    password_hash: str | None = Field(default=None, max_length=255)
    role: str = Field(max_length=20)
    organization_id: int | None = Field(default=None, foreign_key="organization.id", index=True)
    is_active: bool = True
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    # Part of every access token; raising it ends all the user's sessions (logout, password reset, re-role).
    token_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})

    @property
    def service_account(self) -> bool:
        """A system user (a clinic's EMR, a gateway): no password, only keys an admin issues."""
        return self.password_hash is None


class ApiKey(SQLModel, table=True):
    """Long-lived key for a clinic system; only a SHA-256 of the secret is kept."""
    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    name: str = Field(max_length=100)
    key_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Space-separated (pv_service.auth.scopes); keys made before scopes existed keep full access.
    scopes: str = Field(default="read write", max_length=100, sa_column_kwargs={"server_default": "read write"})


class AuthEpoch(SQLModel, table=True):
    """One counter, raised by every revocation (key, user, session): each request compares it
    with the value its worker's cached principals were resolved at, so revocation holds at
    once in every worker. A missing row reads as 0."""
    __tablename__ = "auth_epoch"
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    epoch: int = Field(sa_type=sa.BigInteger)


class LoginThrottle(SQLModel, table=True):
    """Password attempts per username (hashed) and per client address, shared by all workers."""
    __tablename__ = "login_throttle"
    key: str = Field(primary_key=True, max_length=80)
    attempts: int
    window_start: dt.datetime = Field(sa_type=UTCDateTime)
    locked_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
