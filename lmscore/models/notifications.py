from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from .users import User


class NotificationPreference(Base):
    """How one user wants one kind of notification on one per-user channel. No row: the
    kind's default."""

    __tablename__ = "notification_preferences"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    # immediate | digest | off
    mode: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "channel", "kind"),)


class NotificationDelivery(Base):
    """One message to one recipient (or site destination) on one channel: the delivery log.
    Written when an event is routed, updated by the delivery job."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: event id, kind, channel and recipient: routing the same event twice adds nothing.
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: The outbox event; None for a digest.
    event_id: Mapped[int | None] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[User | None] = relationship()
    destination: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(2000))
    # pending → sent | failed (retries exhausted; ``error`` says why). A pending one with
    # attempts is being retried: ``error`` is its last failure.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_notification_deliveries_status_created", "status", "created_at"),)


class NotificationDigestItem(Base):
    """A notification a user takes as a daily digest, waiting for (or batched into) one."""

    __tablename__ = "notification_digest_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The digest delivery that carried it; None while waiting.
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_deliveries.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        UniqueConstraint("event_id", "user_id", "channel", "kind"),
        Index("ix_notification_digest_items_user_waiting", "user_id", "channel", "delivery_id"),
    )
