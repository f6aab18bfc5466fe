"""signal records (notes, attachments) and the queue's review state on alerts

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-01 15:00:00

Existing alerts keep everything: the new columns start empty (a signal never reviewed; its step's
due date counts from when it was raised). Follow-up alerts raised per timepoint are resolved by the
next follow-up run, which raises one item per clinic and product in their place.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import pv_service.core.db

revision = "0022"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_since", pv_service.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", pv_service.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reviewed_n", sa.Integer(), nullable=True))
    op.create_table(
        "signal_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("at", pv_service.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], name=op.f("fk_signal_note_alert_id_alert")),
        sa.ForeignKeyConstraint(["author_id"], ["app_user.id"], name=op.f("fk_signal_note_author_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_note")),
    )
    with op.batch_alter_table("signal_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signal_note_alert_id"), ["alert_id"], unique=False)
    op.create_table(
        "signal_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("at", pv_service.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], name=op.f("fk_signal_attachment_alert_id_alert")),
        sa.ForeignKeyConstraint(["author_id"], ["app_user.id"], name=op.f("fk_signal_attachment_author_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_attachment")),
    )
    with op.batch_alter_table("signal_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signal_attachment_alert_id"), ["alert_id"], unique=False)


def downgrade() -> None:
    op.drop_table("signal_attachment")
    op.drop_table("signal_note")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("reviewed_n")
        batch_op.drop_column("reviewed_at")
        batch_op.drop_column("status_since")
