"""Notification channels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hookspec

if TYPE_CHECKING:
    from ..capabilities import NotificationChannel
    from ..platform import Platform


@hookspec
def lms_register_notification_channels(lms: Platform) -> list[NotificationChannel] | None:
    """Return notification channels to register by their ``name``.

    Called once per app at start-up. Every registered channel receives the notifications that
    users (or the channel's own configuration) subscribe it to; ``send`` runs in a job with
    retries. The core registers ``email``.
    """
