"""NMPA's holder identifier of an organisation (E2B C.1.CN.3)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 18:00:00

A nullable column: existing organisations have none until an admin sets it.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nmpa_holder_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_column("nmpa_holder_id")
