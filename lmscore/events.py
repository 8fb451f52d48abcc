"""Domain events. Services write them to the outbox in the same transaction as the change;
a job delivers each to the matching ``lms_on_<name>`` hook after commit."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class Event:
    name: ClassVar[str]
    #: The outbox row id: unique per event, so listeners can de-duplicate.
    event_id: int = 0
    occurred_at: datetime | None = None

    def payload(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("event_id")
        data.pop("occurred_at")
        return data

    @classmethod
    def hook_name(cls) -> str:
        return f"lms_on_{cls.name}"


@dataclass(frozen=True, kw_only=True)
class UserRegistered(Event):
    name: ClassVar[str] = "user_registered"
    user_id: int
    email: str
    display_name: str


@dataclass(frozen=True, kw_only=True)
class EnrolmentChanged(Event):
    name: ClassVar[str] = "enrolment_changed"
    enrolment_id: int
    user_id: int
    track_code: str
    status: str
    previous_status: str | None = None


@dataclass(frozen=True, kw_only=True)
class SubmissionCreated(Event):
    name: ClassVar[str] = "submission_created"
    submission_id: int
    user_id: int
    deliverable_id: int


@dataclass(frozen=True, kw_only=True)
class SubmissionReviewed(Event):
    name: ClassVar[str] = "submission_reviewed"
    submission_id: int
    user_id: int
    #: None when the decision came from an integration (e.g. a merged pull request).
    reviewer_id: int | None
    decision: str
    score: float | None = None


@dataclass(frozen=True, kw_only=True)
class QuizSubmitted(Event):
    name: ClassVar[str] = "quiz_submitted"
    attempt_id: int
    quiz_id: int
    user_id: int
    score: float
    max_score: float
    passed: bool


@dataclass(frozen=True, kw_only=True)
class ReviewAnswered(Event):
    name: ClassVar[str] = "review_answered"
    user_id: int
    item_id: int
    rating: str
    correct: bool | None = None
    due_at: str = ""


@dataclass(frozen=True, kw_only=True)
class PaymentSucceeded(Event):
    name: ClassVar[str] = "payment_succeeded"
    payment_id: int
    user_id: int
    track_code: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(Event):
    name: ClassVar[str] = "payment_refunded"
    payment_id: int
    user_id: int
    track_code: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, kw_only=True)
class WorkspaceChanged(Event):
    name: ClassVar[str] = "workspace_changed"
    workspace_id: int
    user_id: int
    track_code: str
    status: str
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class QuizGenerated(Event):
    name: ClassVar[str] = "quiz_generated"
    quiz_id: int
    owner_id: int | None
    generator: str
    status: str  # ready | failed
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class NotificationRequested(Event):
    """A plugin asked for a notification of one of its registered kinds
    (``lmscore.services.notifications.notify``)."""

    name: ClassVar[str] = "notification_requested"
    kind: str
    #: The recipient when the kind has no recipient resolver of its own.
    user_id: int | None
    #: JSON values the kind's context (or, without one, its templates) gets.
    values: dict[str, Any]


EVENT_TYPES: dict[str, type[Event]] = {
    cls.name: cls
    for cls in (
        UserRegistered, EnrolmentChanged, SubmissionCreated, SubmissionReviewed, QuizSubmitted,
        ReviewAnswered, PaymentSucceeded, PaymentRefunded, WorkspaceChanged, QuizGenerated,
        NotificationRequested,
    )
}
