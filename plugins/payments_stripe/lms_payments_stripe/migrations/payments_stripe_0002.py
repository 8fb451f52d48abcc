"""stripe_event_cursors: how far the catch-up with Stripe's events has come

Revision ID: payments_stripe_0002
Revises: payments_stripe_0001
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

import lmscore.db

revision = "payments_stripe_0002"
down_revision = "payments_stripe_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stripe_event_cursors",
        sa.Column("livemode", sa.Boolean(), autoincrement=False, nullable=False),
        sa.Column("reconciled_until", lmscore.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("livemode", name=op.f("pk_stripe_event_cursors")),
    )


def downgrade() -> None:
    op.drop_table("stripe_event_cursors")
