from __future__ import annotations

import secrets

import jwt
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from pv_service.cli import app as cli_app
from pv_service.core.settings import Settings, get_settings

STRONG_A, STRONG_B, STRONG_C = (secrets.token_urlsafe(32) for _ in range(3))


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No PV_ variables at all (as in a container that sets none), keys file in a temporary place."""
    for name in ("PV_ENVIRONMENT", "PV_SECRET_KEY", "PV_PSEUDONYM_KEY", "PV_AUDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PV_LOCAL_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.chdir(tmp_path)  # no .env file either
    return tmp_path


def test_postgres_urls_are_normalised_to_psycopg3():
    assert Settings(database_url="postgres://u@h/db").database_url == "postgresql+psycopg://u@h/db"
    assert Settings(database_url="postgresql://u@h/db").database_url == "postgresql+psycopg://u@h/db"


def test_the_default_environment_is_production_and_needs_keys(clean_env):
    with pytest.raises(ValidationError, match="PV_SECRET_KEY must be set in production"):
        Settings()
    ok = Settings(secret_key=STRONG_A, pseudonym_key=STRONG_B, audit_key=STRONG_C)
    assert ok.environment == "production"


def test_no_built_in_key_signs_tokens(clean_env):
    """Development keys are random per installation: a token forged with any published value fails."""
    dev = Settings(environment="development")
    forged = jwt.encode({"sub": "1", "role": "admin", "exp": 4102444800}, "dev-only-secret-change-me-0123456789abcdef",
                        algorithm="HS256")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, dev.secret_key, algorithms=["HS256"])
    assert len(dev.secret_key) >= 32 and dev.secret_key != dev.pseudonym_key
    # Kept in the local file: the next process (another worker, the next demo run) uses the same keys.
    again = Settings(environment="test")
    assert (again.secret_key, again.pseudonym_key) == (dev.secret_key, dev.pseudonym_key)
    assert (clean_env / "keys.json").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("secret, pseudonym, message", [
    ("s" * 40, STRONG_B, "PV_SECRET_KEY is not random enough"),
    (STRONG_A, "p" * 32, "PV_PSEUDONYM_KEY is not random enough"),
    ("abcd" * 8, STRONG_B, "PV_SECRET_KEY is not random enough"),
    ("short-" + "x1" * 5, STRONG_B, "PV_SECRET_KEY is shorter than 32"),
    ("dev-only-secret-change-me-0123456789abcdef", STRONG_B, "PV_SECRET_KEY is the development value"),
    (STRONG_A, STRONG_A, "must differ"),
], ids=["repeated", "repeated-pseudonym", "pattern", "short", "published", "same"])
def test_production_refuses_weak_or_shared_keys(clean_env, secret, pseudonym, message):
    with pytest.raises(ValidationError, match=message):
        Settings(environment="production", secret_key=secret, pseudonym_key=pseudonym, audit_key=STRONG_C)


def test_production_accepts_a_random_hex_key(clean_env):
    for _ in range(200):
        Settings(environment="production", secret_key=secrets.token_hex(16), pseudonym_key=secrets.token_hex(16),
                 audit_key=secrets.token_hex(16))


def test_demo_is_refused_in_production(clean_env, monkeypatch):
    monkeypatch.setenv("PV_ENVIRONMENT", "production")
    monkeypatch.setenv("PV_SECRET_KEY", STRONG_A)
    monkeypatch.setenv("PV_PSEUDONYM_KEY", STRONG_B)
    monkeypatch.setenv("PV_AUDIT_KEY", STRONG_C)
    monkeypatch.setenv("PV_DATABASE_URL", f"sqlite:///{clean_env / 'prod.db'}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["demo", "--no-serve", "--patients", "10"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert "refused when PV_ENVIRONMENT is production" in result.output
    assert not (clean_env / "prod.db").exists()


def test_commands_name_a_missing_key_without_a_traceback(clean_env):
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["migrate"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "PV_SECRET_KEY must be set in production" in result.output


def test_production_needs_an_audit_key_of_its_own(clean_env):
    with pytest.raises(ValidationError, match="PV_AUDIT_KEY must be set in production"):
        Settings(environment="production", secret_key=STRONG_A, pseudonym_key=STRONG_B)
    with pytest.raises(ValidationError, match="must differ"):
        Settings(environment="production", secret_key=STRONG_A, pseudonym_key=STRONG_B, audit_key=STRONG_A)
    ok = Settings(environment="production", secret_key=STRONG_A, pseudonym_key=STRONG_B, audit_key=STRONG_C)
    assert ok.audit_key == STRONG_C


def test_app_role_must_be_a_plain_identifier(clean_env):
    assert Settings(environment="test", database_app_role="pv_app").database_app_role == "pv_app"
    with pytest.raises(ValidationError, match="database_app_role"):
        Settings(environment="test", database_app_role='pv"; DROP TABLE audit_record; --')
