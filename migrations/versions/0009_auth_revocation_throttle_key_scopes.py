"""revocation epoch, login throttle, token versions, API key expiry and scopes

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-01 09:30:00

Existing users keep token version 0 (their current tokens stay valid until they expire);
existing API keys keep full access ("read write") and no expiry.

Triggers raise the revocation epoch (pv_service/auth/revocation.py) on every UPDATE or
DELETE of app_user and api_key rows, so workers drop cached principals whatever made the
change. The SQL is written out here, not imported, so this revision never changes.
"""
import sqlalchemy as sa
from alembic import op

from pv_service.core.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


TABLES = ("app_user", "api_key")
SQLITE_BUMP = """CREATE TRIGGER {table}_{op}_auth_epoch AFTER {op} ON {table}
   BEGIN
     INSERT OR IGNORE INTO auth_epoch (id, epoch) VALUES (1, 0);
     UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
   END"""
POSTGRES_FUNCTION = """CREATE OR REPLACE FUNCTION auth_epoch_bump() RETURNS trigger AS $$
   BEGIN
     INSERT INTO auth_epoch (id, epoch) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET epoch = auth_epoch.epoch + 1;
     RETURN NULL;
   END $$ LANGUAGE plpgsql"""
POSTGRES_BUMP = """CREATE TRIGGER {table}_auth_epoch AFTER UPDATE OR DELETE ON {table}
   FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump()"""


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for table in TABLES:
            op.execute(POSTGRES_BUMP.format(table=table))
        return
    for table in TABLES:
        for kind in ("UPDATE", "DELETE"):
            op.execute(SQLITE_BUMP.format(table=table, op=kind))


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_auth_epoch ON {table}")
        op.execute("DROP FUNCTION IF EXISTS auth_epoch_bump()")
        return
    for table in TABLES:
        for kind in ("UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{kind}_auth_epoch")


def upgrade() -> None:
    op.create_table(
        "auth_epoch",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_epoch")),
    )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("scopes", sa.String(length=100), server_default="read write", nullable=False))
    # After the batch operations: SQLite's batch mode rebuilds the tables, which drops triggers.
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("scopes")
        batch.drop_column("expires_at")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("token_version")
    op.drop_table("login_throttle")
    op.drop_table("auth_epoch")
