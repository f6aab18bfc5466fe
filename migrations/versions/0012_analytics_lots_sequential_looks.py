"""treatment vector lot and manufacturing site; sequential_look (one row per MaxSPRT look)

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-01 12:30:00

Existing treatments have neither recorded (NULL): lot analyses then use the batch number alone.
"""
import sqlalchemy as sa
from alembic import op

import pv_service.core.db

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("treatment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vector_lot", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("manufacturing_site", sa.String(length=200), nullable=True))
    op.create_table(
        "sequential_look",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("event_group", sa.String(length=200), nullable=False),
        sa.Column("look_date", sa.Date(), nullable=False),
        sa.Column("observed", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("person_years", sa.Float(), nullable=False),
        sa.Column("llr", sa.Float(), nullable=False),
        sa.Column("max_llr", sa.Float(), nullable=False),
        sa.Column("critical_value", sa.Float(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("surveillance_expected", sa.Float(), nullable=False),
        sa.Column("min_events", sa.Integer(), nullable=False),
        sa.Column("signalled", sa.Boolean(), nullable=False),
        sa.Column("surveillance_ended", sa.Boolean(), nullable=False),
        sa.Column("rules_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", pv_service.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"], name=op.f("fk_sequential_look_product_id_product")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequential_look")),
        sa.UniqueConstraint("product_id", "event_group", "look_date", name="uq_sequential_look_product_group_date"),
    )
    with op.batch_alter_table("sequential_look", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sequential_look_product_id"), ["product_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sequential_look", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sequential_look_product_id"))
    op.drop_table("sequential_look")
    with op.batch_alter_table("treatment", schema=None) as batch_op:
        batch_op.drop_column("manufacturing_site")
        batch_op.drop_column("vector_lot")
