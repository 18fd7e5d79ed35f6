"""queue conformance: message-set status, refusal counters and back-off

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("qbwc_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refusals", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("qb_batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_code", sa.Integer(), nullable=True))
    with op.batch_alter_table("qb_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("refusals", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("qb_request", schema=None) as batch_op:
        batch_op.drop_column("refusals")
        batch_op.drop_column("not_before")
    with op.batch_alter_table("qb_batch", schema=None) as batch_op:
        batch_op.drop_column("status_code")
    with op.batch_alter_table("qbwc_session", schema=None) as batch_op:
        batch_op.drop_column("refusals")
