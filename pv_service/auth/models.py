from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from pv_service.core.db import UTCDateTime


class Organization(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    kind: str = Field(max_length=20, index=True)
    country: str | None = Field(default=None, max_length=2)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, sa_column_kwargs={"unique": True})
    password_hash: str | None = Field(default=None, max_length=255)
    role: str = Field(max_length=20)
    organization_id: int | None = Field(default=None, foreign_key="organization.id", index=True)
    is_active: bool = True
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """Long-lived key for a clinic system; only a SHA-256 of the secret is kept."""
    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    name: str = Field(max_length=100)
    key_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
