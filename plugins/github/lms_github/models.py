"""The plugin's tables (Alembic branch ``github``): linked accounts, learners' repositories and
the webhook deliveries already handled."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lmscore.db import Base, UTCDateTime, utcnow


class AccountStatus(StrEnum):
    CONNECTING = "connecting"  # authorised in the browser; the token exchange job runs
    ACTIVE = "active"
    BROKEN = "broken"  # GitHub refused the token (401) or the exchange failed: reconnect


class GithubAccount(Base):
    """One learner's link to their GitHub account. The OAuth token is stored encrypted."""

    __tablename__ = "github_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.CONNECTING.value)
    github_id: Mapped[int | None] = mapped_column(BigInteger)
    login: Mapped[str | None] = mapped_column(String(100))
    #: Fernet token of the OAuth access token (or, while connecting, of the one-time code).
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    #: Scopes GitHub granted (its ``X-OAuth-Scopes``), comma-separated.
    scopes: Mapped[str] = mapped_column(String(200), default="")
    #: Why the link is broken, for the learner.
    problem: Mapped[str | None] = mapped_column(Text)
    #: GitHub's rate limit for this token is spent until then: jobs wait instead of calling.
    rate_limited_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RepositoryStatus(StrEnum):
    PENDING = "pending"  # the creation job is queued or waiting for GitHub's rate limit
    READY = "ready"
    FAILED = "failed"


class GithubRepository(Base):
    """The repository a learner works in for one project (generated from its template)."""

    __tablename__ = "github_repositories"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    #: ``owner/name`` in lower case: GitHub names are case-insensitive; webhooks look it up.
    full_name_key: Mapped[str] = mapped_column(String(201), index=True)
    status: Mapped[str] = mapped_column(String(16), default=RepositoryStatus.PENDING.value)
    html_url: Mapped[str | None] = mapped_column(String(500))
    github_id: Mapped[int | None] = mapped_column(BigInteger)
    problem: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "project_id"),)


class GithubDelivery(Base):
    """A webhook delivery already handled (``X-GitHub-Delivery``), written in the same
    transaction as its effect: a redelivery finds it and changes nothing."""

    __tablename__ = "github_deliveries"

    delivery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
