"""Question banks (topic → subtopic → leaf → facet), items, and each learner's memory of them
(card states and the review log)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow

NODE_LEVELS = ("topic", "subtopic", "leaf", "facet")
ITEM_TYPES = ("mcq_single", "mcq_multi", "short_answer", "numeric", "theory", "scenario", "code")


class QuestionBank(Base):
    __tablename__ = "question_banks"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: The track whose content this bank belongs to (its scheduler override applies).
    track_id: Mapped[int | None] = mapped_column(ForeignKey("tracks.id", ondelete="SET NULL"))
    #: Counts the imports that added or changed items: review progress recorded under an
    #: older count is not trusted, since an item may now sit before it.
    content_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BankNode(Base):
    """One level of the hierarchy; ``path`` is "topic/subtopic/leaf/facet" up to its level."""

    __tablename__ = "bank_nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("question_banks.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("bank_nodes.id", ondelete="CASCADE"))
    level: Mapped[int]  # 0 topic … 3 facet
    code: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(String(420))
    name: Mapped[str] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("bank_id", "path"),)


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("question_banks.id", ondelete="CASCADE"),
                                         index=True)
    facet_id: Mapped[int] = mapped_column(ForeignKey("bank_nodes.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    prompt: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    answer: Mapped[Any] = mapped_column(JSON)
    explanation: Mapped[str] = mapped_column(Text, default="")
    difficulty: Mapped[int] = mapped_column(default=3)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Where the item came from ("content_folder:DP", "gift:file.txt", …).
    source: Mapped[str] = mapped_column(String(200), default="")
    #: A grader name overriding the default for the item's type.
    grader: Mapped[str | None] = mapped_column(String(64))
    #: SHA-256 of the imported content: unchanged items are skipped on re-import.
    content_hash: Mapped[str] = mapped_column(String(64))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    facet: Mapped[BankNode] = relationship()

    __table_args__ = (
        # New review items in their order: read in order, stopping after the first unseen
        # few, instead of sorting the whole bank on every request.
        Index("ix_items_bank_new_order", "bank_id", "facet_id", "difficulty", "id"),
    )


class CardState(Base):
    """One learner × one item: what the scheduler decided at the last review."""

    __tablename__ = "card_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    bank_id: Mapped[int] = mapped_column(ForeignKey("question_banks.id", ondelete="CASCADE"))
    scheduler: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    interval_days: Mapped[float]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reps: Mapped[int] = mapped_column(default=0)
    lapses: Mapped[int] = mapped_column(default=0)
    last_reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("user_id", "item_id"),
        # The next-review query: a learner's cards in a bank by due time.
        Index("ix_card_states_user_bank_due", "user_id", "bank_id", "due_at"),
    )


class ReviewProgress(Base):
    """How far a learner is through a bank's new items: every live item before the position
    ``(facet_id, difficulty, item_id)``, in the order new items are introduced, has a card.
    The next-review query walks the unseen items from there instead of from the bank's first
    item, so its cost does not grow with the learner's history. Trusted only under the bank's
    ``content_version`` it was recorded for."""

    __tablename__ = "review_progress"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("question_banks.id", ondelete="CASCADE"),
                                         primary_key=True)
    content_version: Mapped[int]
    facet_id: Mapped[int]
    difficulty: Mapped[int]
    item_id: Mapped[int]


class ReviewLog(Base):
    __tablename__ = "review_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    bank_id: Mapped[int] = mapped_column(ForeignKey("question_banks.id", ondelete="CASCADE"))
    #: Chosen by the client; a retried request with the same id changes nothing.
    client_attempt_id: Mapped[str] = mapped_column(String(64), unique=True)
    rating: Mapped[str] = mapped_column(String(8))
    correct: Mapped[bool | None]
    elapsed_ms: Mapped[int | None]
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    scheduler: Mapped[str] = mapped_column(String(64))
    #: SQL NULL (not JSON null) for a first review, so "new today" can be counted in SQL.
    state_before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    state_after: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The response returned to the client, replayed verbatim for a repeated attempt id.
    response: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_review_logs_user_reviewed", "user_id", "reviewed_at"),
        # Per-facet review counts (an index-only count) and `lms scheduler rebuild`'s replay
        # of one card's reviews in order.
        Index("ix_review_logs_user_item", "user_id", "item_id", "reviewed_at"),
    )
