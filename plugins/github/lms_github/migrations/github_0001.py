"""github: linked accounts, learners' repositories, handled webhook deliveries

Revision ID: github_0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

import lmscore.db

revision = "github_0001"
down_revision = None
branch_labels = ("github",)
depends_on = "0002"  # users, projects


def upgrade() -> None:
    op.create_table(
        "github_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("github_id", sa.BigInteger(), nullable=True),
        sa.Column("login", sa.String(length=100), nullable=True),
        sa.Column("secret_encrypted", sa.Text(), nullable=True),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("rate_limited_until", lmscore.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", lmscore.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", lmscore.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_github_accounts_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_github_accounts")),
        sa.UniqueConstraint("user_id", name=op.f("uq_github_accounts_user_id")),
    )
    op.create_table(
        "github_repositories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("full_name_key", sa.String(length=201), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("html_url", sa.String(length=500), nullable=True),
        sa.Column("github_id", sa.BigInteger(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("created_at", lmscore.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", lmscore.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name=op.f("fk_github_repositories_project_id_projects")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_github_repositories_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_github_repositories")),
        sa.UniqueConstraint("user_id", "project_id", name=op.f("uq_github_repositories_user_id")),
    )
    op.create_index(op.f("ix_github_repositories_full_name_key"), "github_repositories",
                    ["full_name_key"])
    op.create_table(
        "github_deliveries",
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("received_at", lmscore.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_github_deliveries")),
    )
    op.create_index(op.f("ix_github_deliveries_received_at"), "github_deliveries",
                    ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_github_deliveries_received_at"), table_name="github_deliveries")
    op.drop_table("github_deliveries")
    op.drop_index(op.f("ix_github_repositories_full_name_key"), table_name="github_repositories")
    op.drop_table("github_repositories")
    op.drop_table("github_accounts")
