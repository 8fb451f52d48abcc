"""Notification channels and plugins' own kinds of notification."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hookspec

if TYPE_CHECKING:
    from ..capabilities import NotificationChannel, NotificationKind
    from ..platform import Platform


@hookspec
def lms_register_notification_channels(lms: Platform) -> list[NotificationChannel] | None:
    """Return notification channels to register by their ``name``.

    Called once per app at start-up. Every registered channel receives the notifications that
    users (or the channel's own configuration) subscribe it to; ``send`` runs in a job with
    retries. The core registers ``email``.
    """


@hookspec
def lms_register_notification_kinds(lms: Platform) -> list[NotificationKind] | None:
    """Return the plugin's own kinds of notification, each by its unique ``name``.

    Called once per app at start-up. A name the core or another plugin already uses, a
    template path outside ``lms_<plugin>/notifications/`` or an unknown ``default_mode`` or
    role stops start-up. The plugin sends one with
    ``lmscore.services.notifications.notify``; users choose per kind like for the core's.
    """
