"""Alembic environment: the service's settings name the database unless a connection is passed in."""
from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import pv_service.models  # noqa: F401  (registers every table)
from pv_service.core.db import make_engine
from pv_service.core.settings import get_settings

config = context.config
target_metadata = SQLModel.metadata


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        run_migrations(conn)
    engine.dispose()
