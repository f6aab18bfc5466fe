"""Run Alembic migrations from code (CLI `migrate`, tests, demo)."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import pv_service.models  # noqa: F401
from pv_service.core.db import unbounded_statements
from pv_service.core.settings import PROJECT_ROOT


def alembic_config() -> Config:
    return Config(str(PROJECT_ROOT / "alembic.ini"))


def upgrade(engine: Engine, revision: str = "head", app_role: str | None = None) -> None:
    """Migrate (as the tables' owner); then grant `app_role`, if any, what the service may do (core.grants)."""
    config = alembic_config()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one, which its foreign
            # keys would refuse while rows refer to it; they are checked once it is done.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # ends SQLAlchemy's implicit transaction (SQLite never began one)
        try:
            with connection.begin():
                unbounded_statements(connection)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if app_role:
                    from pv_service.core.grants import grant

                    grant(connection, app_role)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration left rows without their parent rows: {broken[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def pending_model_changes(engine: Engine) -> list:
    """Differences between the migrated database and the models (empty when in step)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)
