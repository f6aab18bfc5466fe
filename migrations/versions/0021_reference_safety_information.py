"""reference safety information, expectedness, quarterly signal trend

Revision ID: 0021
Revises: 0016
Create Date: 2026-12-01 14:44:31

New tables only, and a nullable column on signal_pair: existing rows are kept as they are (pairs of
earlier runs have no listedness; reactions get their expectedness when the jobs next assess them).
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import pv_service.core.db


revision = '0021'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signal_trend',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('product', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('quarter', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('a', sa.Integer(), nullable=False),
    sa.Column('n_product', sa.Integer(), nullable=False),
    sa.Column('n_event', sa.Integer(), nullable=False),
    sa.Column('n_total', sa.Integer(), nullable=False),
    sa.Column('prr', sa.Float(), nullable=True),
    sa.Column('ror', sa.Float(), nullable=True),
    sa.Column('ror_lower', sa.Float(), nullable=True),
    sa.Column('ic', sa.Float(), nullable=True),
    sa.Column('ic025', sa.Float(), nullable=True),
    sa.Column('interval_a', sa.Integer(), nullable=False),
    sa.Column('interval_n_product', sa.Integer(), nullable=False),
    sa.Column('interval_n_event', sa.Integer(), nullable=False),
    sa.Column('interval_n_total', sa.Integer(), nullable=False),
    sa.Column('interval_prr', sa.Float(), nullable=True),
    sa.Column('interval_ror', sa.Float(), nullable=True),
    sa.Column('interval_ror_lower', sa.Float(), nullable=True),
    sa.Column('interval_ic025', sa.Float(), nullable=True),
    sa.Column('interval_serious', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['signal_run.id'], name=op.f('fk_signal_trend_run_id_signal_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signal_trend'))
    )
    with op.batch_alter_table('signal_trend', schema=None) as batch_op:
        batch_op.create_index('ix_signal_trend_run_product_event', ['run_id', 'product', 'event'], unique=False)

    op.create_table('rsi_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('jurisdiction', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('document', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('version_label', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', pv_service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_rsi_version_created_by_app_user')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_rsi_version_product_id_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rsi_version')),
    sa.UniqueConstraint('product_id', 'jurisdiction', 'effective_from', name='uq_rsi_version_product_jurisdiction_from')
    )
    with op.batch_alter_table('rsi_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rsi_version_product_id'), ['product_id'], unique=False)

    op.create_table('rsi_term',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rsi_version_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=True),
    sa.ForeignKeyConstraint(['rsi_version_id'], ['rsi_version.id'], name=op.f('fk_rsi_term_rsi_version_id_rsi_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rsi_term'))
    )
    with op.batch_alter_table('rsi_term', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rsi_term_rsi_version_id'), ['rsi_version_id'], unique=False)

    op.create_table('reaction_expectedness',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_reaction_id', sa.Integer(), nullable=False),
    sa.Column('case_version_id', sa.Integer(), nullable=False),
    sa.Column('jurisdiction', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('expectedness', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('rsi_version_id', sa.Integer(), nullable=True),
    sa.Column('matched', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
    sa.Column('assessed_at', pv_service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_reaction_id'], ['case_reaction.id'], name=op.f('fk_reaction_expectedness_case_reaction_id_case_reaction')),
    sa.ForeignKeyConstraint(['case_version_id'], ['case_version.id'], name=op.f('fk_reaction_expectedness_case_version_id_case_version')),
    sa.ForeignKeyConstraint(['rsi_version_id'], ['rsi_version.id'], name=op.f('fk_reaction_expectedness_rsi_version_id_rsi_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reaction_expectedness')),
    sa.UniqueConstraint('case_reaction_id', 'jurisdiction', name='uq_reaction_expectedness_reaction_jurisdiction')
    )
    with op.batch_alter_table('reaction_expectedness', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reaction_expectedness_case_version_id'), ['case_version_id'], unique=False)

    with op.batch_alter_table('signal_pair', schema=None) as batch_op:
        batch_op.add_column(sa.Column('listed', sa.Boolean(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('signal_pair', schema=None) as batch_op:
        batch_op.drop_column('listed')

    with op.batch_alter_table('reaction_expectedness', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reaction_expectedness_case_version_id'))

    op.drop_table('reaction_expectedness')
    with op.batch_alter_table('rsi_term', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rsi_term_rsi_version_id'))

    op.drop_table('rsi_term')
    with op.batch_alter_table('rsi_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rsi_version_product_id'))

    op.drop_table('rsi_version')
    with op.batch_alter_table('signal_trend', schema=None) as batch_op:
        batch_op.drop_index('ix_signal_trend_run_product_event')

    op.drop_table('signal_trend')
