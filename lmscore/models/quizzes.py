"""Quizzes, their questions, and learners' attempts.

A quiz's questions are snapshots (copied from bank items or written/generated for the quiz), so
editing a bank item never changes a quiz. A ``quiz_questions`` row never changes once written:
replacing the questions of a quiz whose attempts asked them retires the old rows instead of
deleting them, and a bank item drawn at random is snapshotted once per quiz (reused while the
item's ``content_hash`` is unchanged). So an attempt only references the rows it asks, and
editing a quiz or a bank never changes past attempts.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    and_,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow


class QuizStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class GenerationStatus(StrEnum):
    QUEUED = "queued"
    GENERATING = "generating"
    READY = "ready"
    FAILED = "failed"


class FeedbackTiming(StrEnum):
    IMMEDIATE = "immediate"
    DEFERRED = "deferred"


class Quiz(Base):
    __tablename__ = "quizzes"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    track_id: Mapped[int | None] = mapped_column(ForeignKey("tracks.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=QuizStatus.DRAFT.value)
    time_limit_s: Mapped[int | None]
    #: None means unlimited attempts.
    attempts_allowed: Mapped[int | None]
    shuffle_questions: Mapped[bool] = mapped_column(default=False)
    shuffle_options: Mapped[bool] = mapped_column(default=False)
    pass_mark: Mapped[float] = mapped_column(default=50.0)  # percent
    feedback_timing: Mapped[str] = mapped_column(String(16), default=FeedbackTiming.DEFERRED.value)
    available_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    available_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Random draw per attempt: {"banks": [...], "facets": [...], "count": N}; None = fixed.
    draw: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    generator: Mapped[str | None] = mapped_column(String(64))
    generation_status: Mapped[str | None] = mapped_column(String(16))
    generation_error: Mapped[str | None] = mapped_column(Text)
    generation_request: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    #: The quiz's own current questions. Written through ``services.quizzes`` (rows are
    #: retired, never changed); deleting the quiz deletes them in the database (cascade).
    questions: Mapped[list[QuizQuestion]] = relationship(
        primaryjoin=lambda: and_(Quiz.id == QuizQuestion.quiz_id, QuizQuestion.current()),
        order_by="QuizQuestion.position", viewonly=True,
    )


class QuizQuestion(Base):
    """Immutable question content: one of a quiz's own questions, or the snapshot of a bank
    item drawn for the quiz's attempts. Attempts reference these rows."""

    __tablename__ = "quiz_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    #: Place among the quiz's own questions (1, 2, …); 0 for a drawn snapshot.
    position: Mapped[int]
    #: The bank item this was copied from, if any.
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(20))
    prompt: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    answer: Mapped[Any] = mapped_column(JSON)
    explanation: Mapped[str] = mapped_column(Text, default="")
    grader: Mapped[str | None] = mapped_column(String(64))
    points: Mapped[float] = mapped_column(default=1.0)
    #: A snapshot of the bank item ``item_id`` drawn at random for an attempt, not one of the
    #: quiz's own questions.
    drawn: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: A drawn snapshot's item ``content_hash`` when copied: later draws of the item reuse this
    #: row while the item's hash is the same.
    content_hash: Mapped[str | None] = mapped_column(String(64))
    #: When the row stopped being current (its quiz's questions were replaced, or its item
    #: changed); the attempts that asked it still reference it.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # A quiz's questions, and the snapshots of the items a draw picked.
        Index("ix_quiz_questions_quiz_item", "quiz_id", "item_id"),
    )

    @classmethod
    def current(cls) -> ColumnElement[bool]:
        """The quiz's own questions in use (not drawn snapshots, not retired)."""
        return and_(cls.drawn.is_(False), cls.retired_at.is_(None))


class AttemptStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    AUTO_CLOSED = "auto_closed"


class QuizAttempt(Base):
    __tablename__ = "quiz_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=AttemptStatus.IN_PROGRESS.value)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    score: Mapped[float | None]
    max_score: Mapped[float | None]
    percent: Mapped[float | None]
    passed: Mapped[bool | None]
    #: True while a free-text answer waits for a trainer: the score may still rise.
    pending_review: Mapped[bool] = mapped_column(default=False)

    quiz: Mapped[Quiz] = relationship()
    questions: Mapped[list[AttemptQuestion]] = relationship(
        back_populates="attempt", order_by="AttemptQuestion.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("quiz_id", "user_id", "number"),
        # The auto-close sweep looks for expired attempts still in progress.
        Index("ix_quiz_attempts_status_deadline", "status", "deadline_at"),
    )


def _content(name: str) -> property:
    return property(lambda self: getattr(self.question, name),
                    doc=f"The asked question's ``{name}`` (from its quiz question row).")


class AttemptQuestion(Base):
    """One question as asked in one attempt: a reference to its immutable content (a quiz
    question row), the options in the asked order, the learner's answer and its grade."""

    __tablename__ = "attempt_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempts.id", ondelete="CASCADE"))
    position: Mapped[int]
    quiz_question_id: Mapped[int] = mapped_column(
        ForeignKey("quiz_questions.id", ondelete="CASCADE"), index=True
    )
    option_order: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The learner's latest saved answer (an idempotent upsert per question).
    selected: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    text: Mapped[str | None] = mapped_column(Text)
    value: Mapped[float | None]
    saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Grading result.
    score: Mapped[float | None]
    feedback: Mapped[str | None] = mapped_column(Text)
    #: The grader's own detail (``GradeResult.details``), e.g. the code grader's per-test
    #: results; None when it gave none.
    grading_details: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    needs_manual_review: Mapped[bool] = mapped_column(default=False)

    attempt: Mapped[QuizAttempt] = relationship(back_populates="questions")
    # Joined into every query that loads the row: an answer is checked and graded against it.
    question: Mapped[QuizQuestion] = relationship(lazy="joined", innerjoin=True)

    item_id = _content("item_id")
    type = _content("type")
    prompt = _content("prompt")
    options = _content("options")
    answer = _content("answer")
    explanation = _content("explanation")
    grader = _content("grader")
    points = _content("points")
    drawn = _content("drawn")

    __table_args__ = (UniqueConstraint("attempt_id", "position"),)
