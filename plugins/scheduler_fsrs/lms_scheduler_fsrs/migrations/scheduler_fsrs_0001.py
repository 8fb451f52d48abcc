"""fsrs_parameters: per-learner fitted FSRS parameters

Revision ID: scheduler_fsrs_0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

import lmscore.db

revision = "scheduler_fsrs_0001"
down_revision = None
branch_labels = ("scheduler_fsrs",)
depends_on = "0003"


def upgrade() -> None:
    op.create_table(
        "fsrs_parameters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("review_count", sa.Integer(), nullable=False),
        sa.Column("last_review_id", sa.Integer(), nullable=False),
        sa.Column("fitted_at", lmscore.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_fsrs_parameters_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fsrs_parameters")),
    )
    op.create_index(op.f("ix_fsrs_parameters_user_id"), "fsrs_parameters", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_fsrs_parameters_user_id"), table_name="fsrs_parameters")
    op.drop_table("fsrs_parameters")
