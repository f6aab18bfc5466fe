"""signal pairs keyed by MedDRA code keep the term's name for display

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-01 12:40:00

Pairs stored before this revision were keyed by preferred-term name: their name is their event.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0014'
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('signal_pair', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_name', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=True))
    op.execute("UPDATE signal_pair SET event_name = event")


def downgrade() -> None:
    with op.batch_alter_table('signal_pair', schema=None) as batch_op:
        batch_op.drop_column('event_name')
