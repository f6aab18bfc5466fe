"""no foreign keys from case rows to the organization, user and product rows every report shares

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 08:20:00

Each report would take a FOR KEY SHARE lock on the same organization, app_user and product
rows; with concurrent writers PostgreSQL shares those locks through multixacts. The intake
writes these columns from the authenticated caller and the treatment row (itself keyed to
its product); organizations, users and products are never deleted. See pv_service/cases/models.py.
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

KEYS = [
    ("safety_case", "fk_safety_case_sender_id_organization", "organization", "sender_id"),
    ("case_version", "fk_case_version_submitted_by_app_user", "app_user", "submitted_by"),
    ("case_drug", "fk_case_drug_product_id_product", "product", "product_id"),
]


def upgrade() -> None:
    for table, name, _, _ in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table, name, parent, column in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, parent, [column], ["id"])
