from __future__ import annotations

import datetime as dt

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pv_service.common.types import ApiDateTime, DbId
from pv_service.common.vocab import OrgKind, Role


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


_HOLDER_ID = ("NMPA's identifier of this marketing authorisation holder (E2B C.1.CN.3 of its post-marketing "
              "reports to NMPA)")


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: OrgKind
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    nmpa_holder_id: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"\S",
                                       description=_HOLDER_ID)


class OrganizationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nmpa_holder_id: str | None = Field(min_length=1, max_length=100, pattern=r"\S",
                                       description=_HOLDER_ID + "; null removes it")


class OrganizationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    kind: OrgKind
    country: str | None
    created_at: dt.datetime
    nmpa_holder_id: str | None = None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str | None = Field(default=None, min_length=8, max_length=200)
    role: Role
    organization_id: DbId | None = None


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    role: Role
    organization_id: int | None
    is_active: bool
    service_account: bool = Field(description="No password: signs in only with API keys an admin issues")
    created_at: dt.datetime


class UserUpdate(BaseModel):
    """What an admin may change; a re-role ends the user's sessions."""
    model_config = ConfigDict(extra="forbid")
    is_active: bool | None = None
    role: Role | None = None
    organization_id: DbId | None = None


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=8, max_length=200)


Scope = Literal["read", "reports:write", "write"]
SCOPE_HELP = {
    "read": "read (GET calls)",
    "reports:write": "submit safety reports",
    "write": "every change its role allows",
}


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(default=["read", "write"], min_length=1, max_length=3, description=(
        "read: GET calls; reports:write: POST /v1/reports and /v1/reports/batch; write: every change "
        "(always within what the user's role allows; never key or user management)"))
    expires_at: ApiDateTime | None = Field(default=None, description="After this the key is refused (none: never)")

    @field_validator("scopes")
    @classmethod
    def distinct(cls, v: list[str]) -> list[str]:
        return sorted(set(v))


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    user_id: int
    name: str
    scopes: list[Scope]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @field_validator("scopes", mode="before")
    @classmethod
    def split(cls, v):
        return v.split() if isinstance(v, str) else v


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="Shown once; only its hash is stored")
