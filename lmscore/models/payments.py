from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from .tracks import Track
from .users import User


class Payment(Base):
    """One checkout for one learner and track. Enrolment turns active only when it succeeds.

    ``status`` is derived from the facts below (services/payments.py): whatever order the
    provider's notifications arrive in, the same facts give the same status."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(64))
    provider_reference: Mapped[str | None] = mapped_column(String(255), index=True)
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # created → requires_action → succeeded | failed | canceled | refunded | charged_back
    status: Mapped[str] = mapped_column(String(20), default="created")
    checkout_url: Mapped[str | None] = mapped_column(String(2000))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    #: Random and stable: retries of this checkout reuse it, so the provider charges once.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # -- facts reported by the provider ---------------------------------------------------
    #: The latest attempt before success (requires_action, failed, canceled) and when the
    #: provider saw it: a stale attempt never overwrites a newer one.
    attempt_status: Mapped[str | None] = mapped_column(String(20))
    attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failure_message: Mapped[str | None] = mapped_column(String(500))
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Total refunded so far: the largest running total the provider reported, or the sum of
    #: its named refunds that have not failed.
    refunded_minor: Mapped[int] = mapped_column(default=0)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refund_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The refunds the provider named, by its id: {"amount_minor", "status" ("refunded" or
    #: "failed", which is final), "at", "message"}.
    refunds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Set when the payment stops granting access (full refund, chargeback): the enrolment
    #: status that ended then, or "" when none did (another payment still granted it, or an
    #: admin has decided since). If that refund fails, the status comes back and the learner
    #: is not told again that the payment succeeded; None while it never stopped.
    revoked_enrolment_status: Mapped[str | None] = mapped_column(String(20))
    #: None, "open", "won" or "lost".
    dispute_status: Mapped[str | None] = mapped_column(String(10))

    track: Mapped[Track] = relationship()
    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_payments_track_user", "track_id", "user_id"),)

    @property
    def refund_history(self) -> list[dict[str, Any]]:
        """The named refunds, oldest first, each with its ``reference``."""
        named = ({"reference": ref, **refund} for ref, refund in (self.refunds or {}).items())
        return sorted(named, key=lambda refund: refund["at"])

    @property
    def failed_refunds(self) -> list[dict[str, Any]]:
        return [refund for refund in self.refund_history if refund["status"] == "failed"]


class ProcessedProviderEvent(Base):
    """A provider event (e.g. a Stripe webhook) already handled: re-deliveries are ignored."""

    __tablename__ = "processed_provider_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(255))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("provider", "event_id"),)


class AuditEntry(Base):
    """Who did what to whom, for actions that bypass the normal flow (manual grants,
    revocations, refunds). Rows are only ever added."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: None when the actor's account was deleted since.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    #: e.g. "payment:12", "enrolment:user=5,track=DP"
    target: Mapped[str] = mapped_column(String(255), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
