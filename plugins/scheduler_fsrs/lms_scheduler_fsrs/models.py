"""The plugin's table: one immutable row per parameter fit (Alembic branch ``scheduler_fsrs``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from lmscore.db import Base, UTCDateTime, utcnow


class FsrsParameters(Base):
    """A learner's fitted FSRS parameters. Rows are never updated: cards name the row they use,
    so a scheduler may cache a row by id for as long as it lives."""

    __tablename__ = "fsrs_parameters"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    parameters: Mapped[list[float]] = mapped_column(JSON)
    #: The learner's review log as fitted: its size and newest row (later rows are "new").
    review_count: Mapped[int]
    last_review_id: Mapped[int]
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
