"""duplicate detection: candidate clusters and pairs, confirmed duplicates, linkage features

Revision ID: 0020
Revises: 0021
Create Date: 2026-12-01 14:45:59

New tables only, and an index on case_version.content_hash (identical content under another case id);
every stored case stays as it is and keeps counting until a safety officer confirms it a duplicate.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import pv_service.core.db


revision = '0020'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('duplicate_scan',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_version_id', sa.Integer(), nullable=False),
    sa.Column('scanned_at', pv_service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_scan'))
    )
    op.create_table('duplicate_cluster',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('master_case_id', sa.Integer(), nullable=True),
    sa.Column('created_at', pv_service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', pv_service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', pv_service.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['decided_by'], ['app_user.id'], name=op.f('fk_duplicate_cluster_decided_by_app_user')),
    sa.ForeignKeyConstraint(['master_case_id'], ['safety_case.id'], name=op.f('fk_duplicate_cluster_master_case_id_safety_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_cluster'))
    )
    with op.batch_alter_table('duplicate_cluster', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_cluster_status'), ['status'], unique=False)

    op.create_table('duplicate_feature',
    sa.Column('case_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.Integer(), nullable=False),
    sa.Column('sex', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('birth_year', sa.Integer(), nullable=True),
    sa.Column('age_group', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('onset_date', sa.Date(), nullable=True),
    sa.Column('received_date', sa.Date(), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('pts', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('products', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('batch', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('qualification', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('clinic_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['safety_case.id'], name=op.f('fk_duplicate_feature_case_id_safety_case')),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_duplicate_feature'))
    )
    op.create_table('duplicate_of',
    sa.Column('case_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('master_case_id', sa.Integer(), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.Column('confirmed_at', pv_service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['safety_case.id'], name=op.f('fk_duplicate_of_case_id_safety_case')),
    sa.ForeignKeyConstraint(['cluster_id'], ['duplicate_cluster.id'], name=op.f('fk_duplicate_of_cluster_id_duplicate_cluster')),
    sa.ForeignKeyConstraint(['master_case_id'], ['safety_case.id'], name=op.f('fk_duplicate_of_master_case_id_safety_case')),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_duplicate_of'))
    )
    with op.batch_alter_table('duplicate_of', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_of_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_duplicate_of_master_case_id'), ['master_case_id'], unique=False)

    op.create_table('duplicate_pair',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.Column('case_a', sa.Integer(), nullable=False),
    sa.Column('case_b', sa.Integer(), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('detail', pv_service.core.db.FiniteJSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', pv_service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('case_a < case_b', name=op.f('ck_duplicate_pair_ordered')),
    sa.ForeignKeyConstraint(['case_a'], ['safety_case.id'], name=op.f('fk_duplicate_pair_case_a_safety_case')),
    sa.ForeignKeyConstraint(['case_b'], ['safety_case.id'], name=op.f('fk_duplicate_pair_case_b_safety_case')),
    sa.ForeignKeyConstraint(['cluster_id'], ['duplicate_cluster.id'], name=op.f('fk_duplicate_pair_cluster_id_duplicate_cluster')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_pair')),
    sa.UniqueConstraint('case_a', 'case_b', name='uq_duplicate_pair_cases')
    )
    with op.batch_alter_table('duplicate_pair', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_pair_case_b'), ['case_b'], unique=False)
        batch_op.create_index(batch_op.f('ix_duplicate_pair_cluster_id'), ['cluster_id'], unique=False)

    with op.batch_alter_table('case_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_version_content_hash'), ['content_hash'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('case_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_version_content_hash'))

    with op.batch_alter_table('duplicate_pair', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_pair_cluster_id'))
        batch_op.drop_index(batch_op.f('ix_duplicate_pair_case_b'))

    op.drop_table('duplicate_pair')
    with op.batch_alter_table('duplicate_of', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_of_master_case_id'))
        batch_op.drop_index(batch_op.f('ix_duplicate_of_cluster_id'))

    op.drop_table('duplicate_of')
    op.drop_table('duplicate_feature')
    with op.batch_alter_table('duplicate_cluster', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_cluster_status'))

    op.drop_table('duplicate_cluster')
    op.drop_table('duplicate_scan')
