"""Notification-channel capability: deliver a rendered notification somewhere.

Two kinds of channel:

- **per-user** (``per_user = True``, e.g. ``email``): one message per recipient user; each user
  chooses in their notification settings which kinds they get, at once or in a daily digest;
- **site** channels (``per_user = False``, e.g. a Slack workspace): messages go to destinations
  the site's configuration names (``destinations(kind)``), whatever users choose.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Notification:
    #: The notification kind, e.g. ``submission_reviewed`` (``lmscore.services.notifications``
    #: lists them); ``digest`` for a daily digest.
    event: str
    #: Empty for a site channel's notification (it has no recipient user).
    recipient_email: str
    recipient_name: str
    subject: str
    #: Plain text. For a site channel: the body alone, written for a shared audience.
    text: str
    #: HTML version of ``text`` (escaped; safe to embed), if any.
    html: str | None = None
    #: Absolute URL of the page the notification is about (``base_url`` + path).
    link: str | None = None
    #: One-click unsubscribe URL (RFC 8058) for per-user channels.
    unsubscribe_url: str | None = None
    #: A site channel's destination name, from ``destinations(kind)``.
    destination: str = ""
    #: Unique per delivery: the same value on every retry, so a channel can de-duplicate.
    delivery_id: int = 0


class NotificationChannel(ABC):
    name: ClassVar[str]
    label: ClassVar[str] = ""
    #: True: one message per recipient user, by their preferences; False: a site channel.
    per_user: ClassVar[bool] = True

    def destinations(self, kind: str) -> Sequence[str]:
        """A site channel's destinations for notifications of ``kind`` (none: not sent).
        Per-user channels are not asked."""
        return ()

    @abstractmethod
    def send(self, notification: Notification) -> None:
        """Deliver or raise. Called from a job, so raising leads to a retry with backoff."""
