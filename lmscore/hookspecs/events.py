"""Event hooks: notifications after a committed change.

Each is called by the event-delivery job in a worker (or the in-process worker), after the
transaction that caused it committed; ``event.event_id`` is unique, so a listener can make
itself idempotent. Return values are ignored. Raising logs the error and records it on the
event for admins; the change itself stands. Do slow work (mail, HTTP) by enqueuing your own
job, which gets retries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hookspec

if TYPE_CHECKING:
    from .. import events
    from ..platform import Platform


@hookspec
def lms_on_user_registered(lms: Platform, event: events.UserRegistered) -> None:
    """Called after a user registers (web, API or CLI)."""


@hookspec
def lms_on_enrolment_changed(lms: Platform, event: events.EnrolmentChanged) -> None:
    """Called after an enrolment is created or changes status (pending_payment, active,
    completed, revoked)."""


@hookspec
def lms_on_submission_created(lms: Platform, event: events.SubmissionCreated) -> None:
    """Called after a learner submits work for a deliverable."""


@hookspec
def lms_on_submission_reviewed(lms: Platform, event: events.SubmissionReviewed) -> None:
    """Called after a trainer (or an automatic grader) decides on a submission."""


@hookspec
def lms_on_quiz_submitted(lms: Platform, event: events.QuizSubmitted) -> None:
    """Called after a quiz attempt is submitted or auto-closed and graded."""


@hookspec
def lms_on_review_answered(lms: Platform, event: events.ReviewAnswered) -> None:
    """Called after a learner answers a spaced-repetition review."""


@hookspec
def lms_on_payment_succeeded(lms: Platform, event: events.PaymentSucceeded) -> None:
    """Called after a payment is confirmed by its provider."""


@hookspec
def lms_on_payment_refunded(lms: Platform, event: events.PaymentRefunded) -> None:
    """Called after a payment is refunded."""


@hookspec
def lms_on_workspace_changed(lms: Platform, event: events.WorkspaceChanged) -> None:
    """Called after a workspace changes status."""


@hookspec
def lms_on_quiz_generated(lms: Platform, event: events.QuizGenerated) -> None:
    """Called after a quiz generator finished a requested quiz (``status`` ready or failed)."""


@hookspec
def lms_on_notification_requested(lms: Platform, event: events.NotificationRequested) -> None:
    """Called after a plugin asked for a notification of one of its kinds (the core routes it
    to its recipients)."""
