"""Notifications in the core: the ``email`` channel, the event listeners that route committed
events to notifications, and the routing, delivery and digest jobs
(``lmscore.services.notifications`` holds the logic)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..capabilities import Notification, NotificationChannel
from ..hookspecs import hookimpl
from ..jobs import JobSpec, PeriodicJob
from ..services import events
from ..services import notifications as service

if TYPE_CHECKING:
    from ..platform import Platform

DIGEST_EVERY_S = 15 * 60


class EmailChannel(NotificationChannel):
    """Per-user: to the recipient's address through the configured mailer (console, file or
    SMTP), with RFC 8058 one-click List-Unsubscribe headers."""

    name = "email"
    label = "Email"
    per_user = True

    def __init__(self, lms: Platform):
        self.lms = lms

    def send(self, notification: Notification) -> None:
        headers = {}
        if notification.unsubscribe_url:
            headers = {"List-Unsubscribe": f"<{notification.unsubscribe_url}>",
                       "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        self.lms.mailer.send(
            notification.recipient_email, notification.subject, notification.text,
            notification.html, headers,
        )


@hookimpl
def lms_register_notification_channels(lms):
    return [EmailChannel(lms)]


@hookimpl
def lms_register_actors():
    return [
        JobSpec(service.ROUTE_JOB, service.route, max_retries=3),
        JobSpec(service.DELIVER_JOB, service.deliver, max_retries=service.DELIVERY_RETRIES),
        JobSpec(service.DIGEST_JOB, service.send_digests, max_retries=0),
    ]


@hookimpl
def lms_register_periodic_jobs():
    return [PeriodicJob(service.DIGEST_JOB, every_s=DIGEST_EVERY_S)]


def _route_after_commit(lms: Platform, event) -> None:
    # Routing renders templates and queries recipients: its own job, with its own retries.
    events.job_after_commit(lms.db.session, service.ROUTE_JOB, event_id=event.event_id)


@hookimpl
def lms_on_user_registered(lms, event):
    _route_after_commit(lms, event)


@hookimpl
def lms_on_enrolment_changed(lms, event):
    _route_after_commit(lms, event)


@hookimpl
def lms_on_submission_created(lms, event):
    _route_after_commit(lms, event)


@hookimpl
def lms_on_submission_reviewed(lms, event):
    _route_after_commit(lms, event)


@hookimpl
def lms_on_quiz_submitted(lms, event):
    _route_after_commit(lms, event)


@hookimpl
def lms_on_payment_succeeded(lms, event):
    _route_after_commit(lms, event)


@hookimpl
def lms_on_payment_refunded(lms, event):
    _route_after_commit(lms, event)


@hookimpl
def lms_on_workspace_changed(lms, event):
    _route_after_commit(lms, event)


@hookimpl
def lms_on_quiz_generated(lms, event):
    _route_after_commit(lms, event)


@hookimpl
def lms_on_notification_requested(lms, event):
    _route_after_commit(lms, event)
