"""job runs hold a lease: lease_until and attempt, so a run whose scheduler died is taken over

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:40:00

Runs left `running` by an earlier version have no lease (NULL): they count as expired,
so the tick they hold can be taken over by the next sweep.
"""
from alembic import op
import sqlalchemy as sa

import pv_service.core.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', pv_service.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempt', sa.Integer(), server_default='1', nullable=False))
        batch_op.create_index(batch_op.f('ix_job_run_outcome'), ['outcome'], unique=False)
        batch_op.create_index('ix_job_run_job_id', ['job', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.drop_index('ix_job_run_job_id')
        batch_op.drop_index(batch_op.f('ix_job_run_outcome'))
        batch_op.drop_column('attempt')
        batch_op.drop_column('lease_until')
