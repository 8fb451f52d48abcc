"""The plugin's tables (Alembic branch ``payments_stripe``): one Stripe Customer per learner, and
how far the catch-up with Stripe's events has come."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lmscore.db import Base, UTCDateTime, utcnow


class StripeCustomer(Base):
    """The learner's Customer in one Stripe mode: test-mode customers do not exist in live
    mode, so switching keys starts afresh instead of failing."""

    __tablename__ = "stripe_customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    livemode: Mapped[bool]
    customer_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "livemode"),)


class StripeEventCursor(Base):
    """How far the catch-up (reconcile.py) has applied Stripe's events, per Stripe mode."""

    __tablename__ = "stripe_event_cursors"

    livemode: Mapped[bool] = mapped_column(primary_key=True, autoincrement=False)
    #: When the last complete run started: the next one lists the events from there on.
    reconciled_until: Mapped[datetime] = mapped_column(UTCDateTime())
