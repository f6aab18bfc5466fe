"""One settings object, read from PV_* environment variables (see README)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PV_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'pv_service.db'}"
    host: str = "127.0.0.1"
    port: int = 8000
    # Signs access tokens.
    secret_key: str = DEV_SECRET
    # Keys the HMAC that turns a clinic's local patient identifier into a pseudonym.
    pseudonym_key: str = DEV_SECRET
    # Keys the audit trail's hash chain and its exported head; the database never holds it.
    audit_key: str = DEV_SECRET
    # Where the audit-head job writes the signed head (count + last hash), outside the database.
    audit_head_dir: Path | None = None
    # PostgreSQL role the api and scheduler connect as (owns nothing); `migrate` grants it
    # what the service needs, and no UPDATE/DELETE/TRUNCATE on the audit trail.
    database_app_role: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    access_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(default=1000, ge=1)
    page_size_max: int = Field(default=500, ge=1)
    rules_dir: Path = PROJECT_ROOT / "alerts"
    scheduler_in_process: bool = False
    workers: int = Field(default=1, ge=1)
    access_log: bool = True
    # Connections per worker for the asynchronous intake path on PostgreSQL. Few are best:
    # on 2 cores, 4 per worker carried more reports with a lower p99 than 10 or 16 (every
    # extra backend is one more process contending for the cores); a batch uses 3 at once.
    pg_pool_size: int = Field(default=4, ge=1, le=200)
    # How long a worker may reuse a resolved token before asking the database again (0: never).
    principal_cache_seconds: float = Field(default=10, ge=0, le=300)

    @field_validator("database_url")
    @classmethod
    def normalise_database_url(cls, v: str) -> str:
        # Accept the URLs people paste (postgres://, postgresql://) and use psycopg 3.
        for prefix in ("postgres://", "postgresql://"):
            if v.startswith(prefix):
                return "postgresql+psycopg://" + v[len(prefix):]
        return v

    @model_validator(mode="after")
    def refuse_unsafe_production(self) -> "Settings":
        if self.environment == "production":
            for name in ("secret_key", "pseudonym_key", "audit_key"):
                value = getattr(self, name)
                if value == DEV_SECRET or len(value) < 32:
                    raise ValueError(
                        f"PV_{name.upper()} must be set to a random value of at least 32 characters in production"
                    )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
