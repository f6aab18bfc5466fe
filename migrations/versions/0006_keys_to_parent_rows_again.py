"""foreign keys from case rows to their organization, user and product rows again

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 18:40:00

0005 dropped them for fear of lock contention: every report takes a FOR KEY SHARE lock on
the same organization, user and product rows. Measured with them and without them
(docs/benchmarks.md, bench/intake.py at 32 clients), the difference was inside the
run-to-run variation, so the database guards these references again.
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

KEYS = [
    ("safety_case", "fk_safety_case_sender_id_organization", "organization", "sender_id"),
    ("case_version", "fk_case_version_submitted_by_app_user", "app_user", "submitted_by"),
    ("case_drug", "fk_case_drug_product_id_product", "product", "product_id"),
]


def upgrade() -> None:
    for table, name, parent, column in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, parent, [column], ["id"])


def downgrade() -> None:
    for table, name, _, _ in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")
