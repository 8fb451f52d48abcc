"""Notification-channel capability: deliver a rendered notification somewhere.

Two kinds of channel:

- **per-user** (``per_user = True``, e.g. ``email``): one message per recipient user; each user
  chooses in their notification settings which kinds they get, at once or in a daily digest;
- **site** channels (``per_user = False``, e.g. a Slack workspace): messages go to destinations
  the site's configuration names (``destinations(kind)``), whatever users choose.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..events import NotificationRequested
    from ..models import User


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


@dataclass(frozen=True)
class NotificationKind:
    """A plugin's own kind of notification (``lms_register_notification_kinds``).

    The plugin asks for one with ``lmscore.services.notifications.notify(lms, session, name,
    user_id=…, **values)`` in the transaction of the change it is about; the core then routes
    it like its own kinds: each recipient's preference (at once, daily digest, off), the
    unsubscribe link, site channels' ``destinations(name)``, retries and the delivery log.
    """

    #: Unique among every kind, the core's included: ``[a-z][a-z0-9_]*``, at most 64
    #: characters. Start it with the plugin id (``adaptive_weekly_path``).
    name: str
    #: Shown on the notification settings page (``/profile/notifications``).
    label: str
    #: Template path without suffix, in the plugin's namespace:
    #: ``lms_<plugin>/notifications/<x>`` → ``<x>.subject.txt``, ``<x>.txt`` and ``<x>.html``.
    templates: str
    #: ``immediate``, ``digest`` or ``off`` for users who have not chosen.
    default_mode: str = "immediate"
    #: Roles offered this kind in their settings; recipients with another role are skipped.
    roles: frozenset[str] = frozenset({"student", "trainer", "admin", "superadmin"})
    #: Who receives it: ``(session, request) -> users``. None: the request's ``user_id``.
    recipients: Callable[[Session, NotificationRequested], Sequence[User]] | None = None
    #: The templates' values: ``(session, request) -> dict``, or None when what the
    #: notification is about is gone (nothing is sent). None: the request's ``values``.
    #: A ``link_path`` value (``/adaptive/path``) becomes the absolute ``link``.
    context: Callable[[Session, NotificationRequested], dict[str, Any] | None] | None = None
