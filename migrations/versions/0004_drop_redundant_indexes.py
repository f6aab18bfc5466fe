"""drop indexes the intake pays for on every insert and no query needs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 07:50:00

ix_safety_case_sender_id and ix_case_version_case_id duplicate the leading column of the
unique indexes (sender_id, sender_case_id) and (case_id, version); audit_record.entity_type
has a dozen values, so its index served no query.
"""
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_safety_case_sender_id', table_name='safety_case')
    op.drop_index('ix_case_version_case_id', table_name='case_version')
    op.drop_index('ix_audit_record_entity_type', table_name='audit_record')


def downgrade() -> None:
    op.create_index('ix_audit_record_entity_type', 'audit_record', ['entity_type'], unique=False)
    op.create_index('ix_case_version_case_id', 'case_version', ['case_id'], unique=False)
    op.create_index('ix_safety_case_sender_id', 'safety_case', ['sender_id'], unique=False)
