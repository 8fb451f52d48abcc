"""Curriculum (tracks → projects → steps, deliverables) and learning records (enrolments,
step completions, submissions, reviews). Content rows are archived, never deleted, so learner
records always keep their target."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from .users import User


class Track(Base):
    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    duration_weeks: Mapped[int | None]
    price_minor: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The content source that owns this track ("" when created through the API).
    source: Mapped[str] = mapped_column(String(64), default="")
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    projects: Mapped[list[Project]] = relationship(
        back_populates="track", order_by="Project.number"
    )

    @property
    def is_paid(self) -> bool:
        return self.price_minor > 0


class ProjectType(StrEnum):
    INTERNAL = "INTERNAL"
    CAPSTONE = "CAPSTONE"


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    number: Mapped[int]
    slug: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16), default=ProjectType.INTERNAL.value)
    summary: Mapped[str] = mapped_column(Text, default="")
    tech_stack: Mapped[list[str]] = mapped_column(JSON, default=list)
    prerequisites: Mapped[list[int]] = mapped_column(JSON, default=list)
    github_template_repo: Mapped[str | None] = mapped_column(String(200))
    estimated_hours: Mapped[int | None]
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    track: Mapped[Track] = relationship(back_populates="projects")
    steps: Mapped[list[Step]] = relationship(back_populates="project", order_by="Step.number")
    deliverables: Mapped[list[Deliverable]] = relationship(
        back_populates="project", order_by="Deliverable.id"
    )

    __table_args__ = (UniqueConstraint("track_id", "number"),)


class Step(Base):
    __tablename__ = "steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    number: Mapped[int]
    slug: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    estimated_minutes: Mapped[int | None]
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    project: Mapped[Project] = relationship(back_populates="steps")

    __table_args__ = (UniqueConstraint("project_id", "number"),)


class DeliverableKind(StrEnum):
    URL = "url"
    FILE = "file"
    REPOSITORY = "repository"
    QUIZ = "quiz"
    CODE = "code"
    TEXT = "text"


class Deliverable(Base):
    __tablename__ = "deliverables"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    required: Mapped[bool] = mapped_column(default=True)
    #: An automatic grader's name; None means trainer review only.
    grader: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    project: Mapped[Project] = relationship(back_populates="deliverables")

    __table_args__ = (UniqueConstraint("project_id", "key"),)


class EnrolmentStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    ACTIVE = "active"
    COMPLETED = "completed"
    REVOKED = "revoked"


class Enrolment(Base):
    __tablename__ = "enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    track: Mapped[Track] = relationship()

    __table_args__ = (
        UniqueConstraint("user_id", "track_id"),
        Index("ix_enrolments_track", "track_id"),
    )


class StepCompletion(Base):
    __tablename__ = "step_completions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"), index=True)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Time the learner spent on the step, as measured by the client (0 when unknown).
    time_spent_s: Mapped[int] = mapped_column(default=0)

    __table_args__ = (UniqueConstraint("user_id", "step_id"),)


class SubmissionStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    GRADING = "grading"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"


#: Statuses of a submission that waits for someone else than the learner.
AWAITING = (SubmissionStatus.SUBMITTED, SubmissionStatus.GRADING, SubmissionStatus.IN_REVIEW)


class Submission(Base):
    """One attempt at a deliverable. A resubmission is a new row (attempt + 1): history stays."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    deliverable_id: Mapped[int] = mapped_column(ForeignKey("deliverables.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20), default=SubmissionStatus.DRAFT.value)
    text: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2000))
    #: Opaque storage key under the uploads root (never a user-chosen path).
    file_key: Mapped[str | None] = mapped_column(String(64))
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int | None]
    file_type: Mapped[str | None] = mapped_column(String(100))
    score: Mapped[float | None]
    #: The automatic grader's result ({"score", "max_score", "feedback", ...}).
    auto_grade: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    deliverable: Mapped[Deliverable] = relationship()
    reviews: Mapped[list[Review]] = relationship(
        back_populates="submission", order_by="Review.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("user_id", "deliverable_id", "attempt"),
        Index("ix_submissions_status_submitted", "status", "submitted_at"),
    )


class ReviewDecision(StrEnum):
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decision: Mapped[str] = mapped_column(String(20))
    feedback_markdown: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="reviews")


class PrerequisiteWaiver(Base):
    """A learner may start ``project`` although its prerequisite projects are not completed
    (a trainer judged them ready, or a placement test did). It opens the project; it never
    marks anything completed, and projects that need this one still wait for it."""

    __tablename__ = "prerequisite_waivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    #: The trainer or admin who granted it; None when the system did (e.g. a plugin's rule).
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: "trainer" for staff decisions, else the id of the plugin that granted it.
    source: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # Joined: the learner's pages show who unlocked a project without another query.
    granted_by: Mapped[User | None] = relationship(foreign_keys=[granted_by_id], lazy="joined")

    __table_args__ = (UniqueConstraint("user_id", "project_id"),)
