"""stripe rate slot: the account-wide Stripe request schedule shared by every process

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per Stripe account and mode: the earliest moment its next request may be sent (epoch seconds,
    # the database's clock). Used on PostgreSQL; a SQLite deployment keeps the same table in a side file
    # (ml_connector/stripe/shared_limit.py) so the limiter never waits for the main file's write lock.
    op.create_table(
        "stripe_rate_slot",
        sa.Column("account", sa.String(length=80), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account"),
    )


def downgrade() -> None:
    op.drop_table("stripe_rate_slot")
