"""adaptive: observations, watermarks, BKT, IRT, diagnostics, unlocks, path snapshots

Revision ID: adaptive_0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

import lmscore.db

revision = "adaptive_0001"
down_revision = None
branch_labels = ("adaptive",)
depends_on = "0004"

UTC = lmscore.db.UTCDateTime


def _fk(table, column, target, ondelete="CASCADE"):
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], ondelete=ondelete,
                                   name=op.f(f"fk_{table}_{column}_{target}"))


def upgrade() -> None:
    op.create_table(
        "adaptive_observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("facet_id", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("observed_at", UTC(), nullable=False),
        sa.Column("source", sa.String(12), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        _fk("adaptive_observations", "user_id", "users"),
        _fk("adaptive_observations", "item_id", "items"),
        _fk("adaptive_observations", "facet_id", "bank_nodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adaptive_observations")),
        sa.UniqueConstraint("source", "source_id",
                            name=op.f("uq_adaptive_observations_source")),
    )
    op.create_index(op.f("ix_adaptive_observations_item_id"), "adaptive_observations",
                    ["item_id"])
    op.create_index("ix_adaptive_observations_facet_user", "adaptive_observations",
                    ["facet_id", "user_id", "id"])
    op.create_index("ix_adaptive_observations_user_time", "adaptive_observations",
                    ["user_id", "observed_at"])
    op.create_table(
        "adaptive_watermarks",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("at", UTC(), nullable=True),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_adaptive_watermarks")),
    )
    op.create_table(
        "adaptive_facet_parameters",
        sa.Column("facet_id", sa.Integer(), nullable=False),
        *(sa.Column(n, sa.Double(), nullable=False) for n in ("prior", "learn", "guess", "slip")),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("last_observation_id", sa.Integer(), nullable=False),
        sa.Column("log_likelihood", sa.Double(), nullable=True),
        sa.Column("fitted_at", UTC(), nullable=False),
        _fk("adaptive_facet_parameters", "facet_id", "bank_nodes"),
        sa.PrimaryKeyConstraint("facet_id", name=op.f("pk_adaptive_facet_parameters")),
    )
    op.create_table(
        "adaptive_mastery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("facet_id", sa.Integer(), nullable=False),
        sa.Column("p_mastery", sa.Double(), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("last_observation_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC(), nullable=False),
        _fk("adaptive_mastery", "user_id", "users"),
        _fk("adaptive_mastery", "facet_id", "bank_nodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adaptive_mastery")),
        sa.UniqueConstraint("user_id", "facet_id", name=op.f("uq_adaptive_mastery_user_id")),
    )
    op.create_table(
        "adaptive_item_parameters",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("difficulty", sa.Double(), nullable=False),
        sa.Column("discrimination", sa.Double(), nullable=False),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("p_correct", sa.Double(), nullable=False),
        sa.Column("model", sa.String(3), nullable=False),
        sa.Column("last_observation_id", sa.Integer(), nullable=False),
        sa.Column("fitted_at", UTC(), nullable=False),
        _fk("adaptive_item_parameters", "item_id", "items"),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_adaptive_item_parameters")),
    )
    op.create_table(
        "adaptive_abilities",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("theta", sa.Double(), nullable=False),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("fitted_at", UTC(), nullable=False),
        _fk("adaptive_abilities", "user_id", "users"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_adaptive_abilities")),
    )
    op.create_table(
        "adaptive_diagnostics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("ladder", sa.JSON(), nullable=False),
        sa.Column("asked", sa.JSON(), nullable=False),
        sa.Column("current_item_id", sa.Integer(), nullable=True),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("started_at", UTC(), nullable=False),
        sa.Column("finished_at", UTC(), nullable=True),
        _fk("adaptive_diagnostics", "user_id", "users"),
        _fk("adaptive_diagnostics", "track_id", "tracks"),
        _fk("adaptive_diagnostics", "current_item_id", "items", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adaptive_diagnostics")),
    )
    op.create_index("ix_adaptive_diagnostics_user_track", "adaptive_diagnostics",
                    ["user_id", "track_id"])
    op.create_table(
        "adaptive_unlocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("diagnostic_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", UTC(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        _fk("adaptive_unlocks", "user_id", "users"),
        _fk("adaptive_unlocks", "project_id", "projects"),
        _fk("adaptive_unlocks", "diagnostic_id", "adaptive_diagnostics"),
        _fk("adaptive_unlocks", "decided_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adaptive_unlocks")),
        sa.UniqueConstraint("user_id", "project_id", name=op.f("uq_adaptive_unlocks_user_id")),
    )
    op.create_table(
        "adaptive_path_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("week_start", UTC(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("adjustments", sa.JSON(), nullable=False),
        sa.Column("notified_at", UTC(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        _fk("adaptive_path_snapshots", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adaptive_path_snapshots")),
        sa.UniqueConstraint("user_id", "week_start",
                            name=op.f("uq_adaptive_path_snapshots_user_id")),
    )


def downgrade() -> None:
    for table in ("adaptive_path_snapshots", "adaptive_unlocks", "adaptive_diagnostics",
                  "adaptive_abilities", "adaptive_item_parameters", "adaptive_mastery",
                  "adaptive_facet_parameters", "adaptive_watermarks"):
        op.drop_table(table)
    op.drop_index("ix_adaptive_observations_user_time", table_name="adaptive_observations")
    op.drop_index("ix_adaptive_observations_facet_user", table_name="adaptive_observations")
    op.drop_index(op.f("ix_adaptive_observations_item_id"), table_name="adaptive_observations")
    op.drop_table("adaptive_observations")
