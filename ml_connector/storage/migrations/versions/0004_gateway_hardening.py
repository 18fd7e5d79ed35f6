"""gateway hardening: failed logins per (address, user name); an index for the payment-state aggregate

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows written before this revision hold user names as sent (unbounded on SQLite); they only ever
    # throttled, so dropping them forgets at most an hour of failures.
    op.execute("DELETE FROM auth_failure")
    with op.batch_alter_table("auth_failure", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=64), nullable=False, server_default=""))
    op.create_index(
        "ix_audit_entry_payment_latest", "audit_entry", ["company_id", "stripe_object_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_audit_entry_payment_latest", table_name="audit_entry")
    with op.batch_alter_table("auth_failure", schema=None) as batch_op:
        batch_op.drop_column("address")
