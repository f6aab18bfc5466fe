from __future__ import annotations

import pytest
from pydantic import ValidationError

from pv_service.core.settings import Settings


def test_postgres_urls_are_normalised_to_psycopg3():
    assert Settings(database_url="postgres://u@h/db").database_url == "postgresql+psycopg://u@h/db"
    assert Settings(database_url="postgresql://u@h/db").database_url == "postgresql+psycopg://u@h/db"


def test_production_refuses_default_secrets():
    with pytest.raises(ValidationError, match="PV_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="PV_AUDIT_KEY"):
        Settings(environment="production", secret_key="s" * 40, pseudonym_key="p" * 40)
    ok = Settings(environment="production", secret_key="s" * 40, pseudonym_key="p" * 40, audit_key="a" * 40)
    assert ok.environment == "production"


def test_app_role_must_be_a_plain_identifier():
    assert Settings(database_app_role="pv_app").database_app_role == "pv_app"
    with pytest.raises(ValidationError, match="database_app_role"):
        Settings(database_app_role='pv"; DROP TABLE audit_record; --')
