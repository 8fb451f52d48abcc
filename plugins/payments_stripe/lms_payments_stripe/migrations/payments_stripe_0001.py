"""stripe_customers: one Stripe Customer per learner and mode

Revision ID: payments_stripe_0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

import lmscore.db

revision = "payments_stripe_0001"
down_revision = None
branch_labels = ("payments_stripe",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "stripe_customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", lmscore.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_stripe_customers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_customers")),
        sa.UniqueConstraint("user_id", "livemode", name=op.f("uq_stripe_customers_user_id")),
    )


def downgrade() -> None:
    op.drop_table("stripe_customers")
