"""One settings object, read from PV_* environment variables (see README)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pv_service.core import keys

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PV_", env_file=".env", extra="ignore")

    # Production unless said otherwise: a deployment that sets nothing must not run on made-up keys.
    environment: Literal["development", "test", "production"] = "production"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'pv_service.db'}"
    host: str = "127.0.0.1"
    port: int = 8000
    # Signs access tokens. Required in production; elsewhere, when unset, a random key from local_keys_file.
    secret_key: str = ""
    # Keys the HMAC that turns a clinic's local patient identifier into a pseudonym (same rule).
    pseudonym_key: str = ""
    # Keys the audit trail's hash chain and its exported head; the database never holds it (same rule).
    audit_key: str = ""
    # Development and test keys, made on first use; git-ignored, never used in production.
    local_keys_file: Path = PROJECT_ROOT / ".pv-local-keys.json"
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
    # How long a worker may reuse a resolved token before asking the database again (0: never);
    # revocations hold at once regardless (the revocation epoch is read on every request).
    principal_cache_seconds: float = Field(default=10, ge=0, le=300)
    # Password sign-in: attempts per username and per client address within the window, then
    # locked out (429 with Retry-After); hash checks run at most this many at once per worker.
    login_attempts_per_user: int = Field(default=5, ge=1)
    login_attempts_per_address: int = Field(default=30, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    login_lockout_seconds: int = Field(default=900, ge=1)
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    # A job run's lease: renewed every third of it while the run works; a run whose lease
    # lapsed (its scheduler died) is taken over by the next scheduler's sweep.
    job_lease_seconds: float = Field(default=120, ge=5, le=3600)
    # PostgreSQL: how long a request may wait to connect or for a pooled connection before it
    # gets a 503, and how long one statement of a request may run (jobs and migrations: no limit).
    db_timeout_seconds: int = Field(default=5, ge=1, le=60)
    db_statement_timeout_seconds: int = Field(default=30, ge=1, le=3600)

    # The ICH E2B(R3) schema set (not shipped: ICH's files, from the operator). `pv-service e2b
    # install-schemas` copies it here; without it E2B import refuses to run.
    e2b_schema_dir: Path = PROJECT_ROOT / ".pv-e2b-schemas"
    # Largest E2B(R3) file accepted (bytes), refused with 413 before parsing.
    e2b_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    # This service's identifier in E2B acknowledgements (ACK.M.2 / ACK.B.r.4).
    e2b_identifier: str = Field(default="PV-SERVICE", min_length=1, max_length=100)

    @field_validator("database_url")
    @classmethod
    def normalise_database_url(cls, v: str) -> str:
        # Accept the URLs people paste (postgres://, postgresql://) and use psycopg 3.
        for prefix in ("postgres://", "postgresql://"):
            if v.startswith(prefix):
                return "postgresql+psycopg://" + v[len(prefix):]
        return v

    @model_validator(mode="after")
    def check_keys(self) -> "Settings":
        if self.environment != "production":
            if not all(getattr(self, name) for name in keys.KEY_NAMES):
                local = keys.local_keys(self.local_keys_file)
                for name in keys.KEY_NAMES:
                    setattr(self, name, getattr(self, name) or local[name])
            return self
        hint = 'e.g. python -c "import secrets; print(secrets.token_urlsafe(32))"'
        for name in keys.KEY_NAMES:
            value = getattr(self, name)
            if not value:
                raise ValueError(f"PV_{name.upper()} must be set in production ({hint})")
            problem = keys.weakness(value)
            if problem:
                raise ValueError(f"PV_{name.upper()} {problem}: use a random value of {keys.MIN_LENGTH}+ characters ({hint})")
        values = [getattr(self, name) for name in keys.KEY_NAMES]
        if len(set(values)) < len(values):
            raise ValueError("PV_SECRET_KEY, PV_PSEUDONYM_KEY and PV_AUDIT_KEY must differ: one leaked key must not give away another")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
