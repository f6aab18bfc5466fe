"""case model for E2B(R3): unregistered patients, reported drugs, identifiers, nullification

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 12:35:00

Existing cases keep their registered patient and treatments; every new column is optional
(source_format defaults to 'json' for the versions already stored).
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import pv_service.core.db


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table('regulatory_submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', S(length=10), server_default='accepted', nullable=False))
        batch_op.add_column(sa.Column('reason', S(length=2000), nullable=True))
    with op.batch_alter_table('safety_case', schema=None) as batch_op:
        batch_op.alter_column('patient_id', existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table('case_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_format', S(length=10), server_default='json', nullable=False))
        batch_op.add_column(sa.Column('safety_report_id', S(length=100), nullable=True))
        batch_op.add_column(sa.Column('worldwide_id', S(length=100), nullable=True))
        batch_op.add_column(sa.Column('message_id', S(length=100), nullable=True))
        batch_op.add_column(sa.Column('message_created', pv_service.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('nullification', S(length=20), nullable=True))
        batch_op.add_column(sa.Column('nullification_reason', S(length=2000), nullable=True))
        batch_op.add_column(sa.Column('patient_pseudonym', S(length=64), nullable=True))
        batch_op.add_column(sa.Column('patient_sex', S(length=10), nullable=True))
        batch_op.add_column(sa.Column('patient_birth_year', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('patient_age', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('patient_age_unit', S(length=10), nullable=True))
        batch_op.add_column(sa.Column('patient_age_group', S(length=10), nullable=True))
        batch_op.add_column(sa.Column('patient_weight_kg', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('patient_height_cm', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('patient_death_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('reporter_comments', S(), nullable=True))
        batch_op.add_column(sa.Column('sender_comments', S(), nullable=True))
        batch_op.add_column(sa.Column('detail', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_case_version_worldwide_id'), ['worldwide_id'], unique=False)
    with op.batch_alter_table('case_drug', schema=None) as batch_op:
        batch_op.alter_column('treatment_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('product_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('name_as_reported', S(length=250), nullable=True))
        batch_op.add_column(sa.Column('product_code', S(length=100), nullable=True))
        batch_op.add_column(sa.Column('authorisation_number', S(length=100), nullable=True))
        batch_op.add_column(sa.Column('holder', S(length=250), nullable=True))
        batch_op.add_column(sa.Column('batch_lot', S(length=100), nullable=True))
        batch_op.add_column(sa.Column('action_taken', S(length=10), nullable=True))
        batch_op.add_column(sa.Column('detail', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_case_drug_batch_lot'), ['batch_lot'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_drug', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_drug_batch_lot'))
        for c in ('detail', 'action_taken', 'batch_lot', 'holder', 'authorisation_number', 'product_code',
                  'name_as_reported'):
            batch_op.drop_column(c)
        batch_op.alter_column('product_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('treatment_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('case_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_version_worldwide_id'))
        for c in ('detail', 'sender_comments', 'reporter_comments', 'patient_death_date', 'patient_height_cm',
                  'patient_weight_kg', 'patient_age_group', 'patient_age_unit', 'patient_age', 'patient_birth_year',
                  'patient_sex', 'patient_pseudonym', 'nullification_reason', 'nullification', 'message_created',
                  'message_id', 'worldwide_id', 'safety_report_id', 'source_format'):
            batch_op.drop_column(c)
    with op.batch_alter_table('safety_case', schema=None) as batch_op:
        batch_op.alter_column('patient_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('regulatory_submission', schema=None) as batch_op:
        batch_op.drop_column('reason')
        batch_op.drop_column('status')
