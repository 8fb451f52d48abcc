"""Workspaces: one per (learner, track), its status as the core last knew it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from .tracks import Track
from .users import User


class Workspace(Base):
    """Status follows ``lmscore.capabilities.workspaces.WorkspaceStatus``; ``access_secret``
    is the unguessable part of the workspace's URL, new at every launch."""

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    #: The backend that runs it: stop and delete go there even if the configuration changes.
    backend: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    #: A ``WorkspaceReason`` for stopped and failed workspaces.
    reason: Mapped[str] = mapped_column(String(32), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    access_secret: Mapped[str] = mapped_column(String(64), unique=True)
    #: The engine's handle (container id) and where the running IDE answers (for the proxy).
    engine_ref: Mapped[str] = mapped_column(String(128), default="")
    engine_url: Mapped[str] = mapped_column(String(255), default="")
    #: The profile it was launched with, and its last sampled resource use.
    profile_name: Mapped[str] = mapped_column(String(64), default="")
    resources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    track: Mapped[Track] = relationship()
    user: Mapped[User] = relationship()

    __table_args__ = (
        UniqueConstraint("user_id", "track_id"),
        Index("ix_workspaces_status", "status"),
    )
