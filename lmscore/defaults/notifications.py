"""``email``: notifications by email through the configured mailer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..capabilities import Notification, NotificationChannel
from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from ..platform import Platform


class EmailChannel(NotificationChannel):
    name = "email"
    label = "Email"

    def __init__(self, lms: Platform):
        self.lms = lms

    def send(self, notification: Notification) -> None:
        self.lms.mailer.send(
            notification.recipient_email, notification.subject, notification.text,
            notification.html,
        )


@hookimpl
def lms_register_notification_channels(lms):
    return [EmailChannel(lms)]
