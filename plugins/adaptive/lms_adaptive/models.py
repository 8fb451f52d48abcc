"""The plugin's tables (Alembic branch ``adaptive``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lmscore.db import Base, UTCDateTime, utcnow


class Observation(Base):
    """One graded answer to a bank item, from a review or a quiz: the attempt log the models
    are fitted from, copied incrementally (see ``observations.ingest``)."""

    __tablename__ = "adaptive_observations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    facet_id: Mapped[int] = mapped_column(ForeignKey("bank_nodes.id", ondelete="CASCADE"))
    correct: Mapped[bool]
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: "review" (review_logs.id), "quiz" (attempt_questions.id) or "diagnostic".
    source: Mapped[str] = mapped_column(String(12))
    source_id: Mapped[int]

    __table_args__ = (
        UniqueConstraint("source", "source_id"),
        Index("ix_adaptive_observations_facet_user", "facet_id", "user_id", "id"),
        Index("ix_adaptive_observations_user_time", "user_id", "observed_at"),
    )


class Watermark(Base):
    """How far an incremental job has read: ``position`` (an id) and/or ``at`` (a time)."""

    __tablename__ = "adaptive_watermarks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class FacetParameters(Base):
    """BKT parameters of one facet: the defaults until enough observations are fitted."""

    __tablename__ = "adaptive_facet_parameters"

    facet_id: Mapped[int] = mapped_column(
        ForeignKey("bank_nodes.id", ondelete="CASCADE"), primary_key=True)
    prior: Mapped[float]
    learn: Mapped[float]
    guess: Mapped[float]
    slip: Mapped[float]
    observations: Mapped[int]
    #: The newest observation included in the fit: newer ones make the facet due again.
    last_observation_id: Mapped[int]
    log_likelihood: Mapped[float | None]
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Mastery(Base):
    """A learner's BKT mastery of a facet: P(known) after their last observation."""

    __tablename__ = "adaptive_mastery"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    facet_id: Mapped[int] = mapped_column(ForeignKey("bank_nodes.id", ondelete="CASCADE"))
    p_mastery: Mapped[float]
    observations: Mapped[int]
    correct: Mapped[int]
    last_observation_id: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "facet_id"),)


class ItemParameters(Base):
    """IRT calibration of one item: P(right | θ) = 1 / (1 + exp(−a (θ − b)))."""

    __tablename__ = "adaptive_item_parameters"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    difficulty: Mapped[float]  # b
    discrimination: Mapped[float]  # a (1 under the 1PL model)
    responses: Mapped[int]
    p_correct: Mapped[float]
    model: Mapped[str] = mapped_column(String(3))
    last_observation_id: Mapped[int]
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Ability(Base):
    """A learner's IRT ability θ (standard scale), kept to warm-start incremental fits."""

    __tablename__ = "adaptive_abilities"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    theta: Mapped[float]
    responses: Mapped[int]
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Diagnostic(Base):
    """A placement diagnostic: an adaptive test over a track's bank."""

    __tablename__ = "adaptive_diagnostics"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default="in_progress")
    #: Per topic: {"level": current ladder position 1–10, "step": next move size}.
    ladder: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Questions asked so far: [{"item_id", "topic", "level", "b", "a", "correct"}].
    asked: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    current_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="SET NULL"))
    #: Per topic when finished: {"skill": 1–10, "theta", "right", "asked"}.
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_adaptive_diagnostics_user_track", "user_id", "track_id"),)


class Unlock(Base):
    """A project the diagnostic found the learner ready for, although its prerequisites are
    not completed: approved automatically or by a trainer (``[plugins.adaptive] unlock``)."""

    __tablename__ = "adaptive_unlocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    diagnostic_id: Mapped[int] = mapped_column(
        ForeignKey("adaptive_diagnostics.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))  # pending | approved | rejected
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "project_id"),)


class PathSnapshot(Base):
    """One weekly learning-path adjustment: the metrics, the new plan and every change with
    the numbers that caused it. Rows are never updated: the history is the list."""

    __tablename__ = "adaptive_path_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    week_start: Mapped[datetime] = mapped_column(UTCDateTime())
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    adjustments: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "week_start"),)
