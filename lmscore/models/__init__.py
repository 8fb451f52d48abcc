"""Core tables. Plugins define theirs on ``lmscore.db.Base`` in their own modules and ship
their own Alembic branch."""

from .auth import RefreshToken, UsedToken
from .banks import BankNode, CardState, Item, QuestionBank, ReviewLog, ReviewProgress
from .notifications import NotificationDelivery, NotificationDigestItem, NotificationPreference
from .outbox import JobFailure, OutboxEvent
from .payments import AuditEntry, Payment, ProcessedProviderEvent
from .quizzes import (
    AttemptQuestion,
    AttemptStatus,
    FeedbackTiming,
    GenerationStatus,
    Quiz,
    QuizAttempt,
    QuizQuestion,
    QuizStatus,
)
from .tracks import (
    AWAITING,
    Deliverable,
    DeliverableKind,
    Enrolment,
    EnrolmentStatus,
    PrerequisiteWaiver,
    Project,
    ProjectType,
    Review,
    ReviewDecision,
    Step,
    StepCompletion,
    Submission,
    SubmissionStatus,
    Track,
)
from .users import Role, User
from .workspaces import Workspace

__all__ = [
    "AttemptQuestion",
    "AuditEntry",
    "AttemptStatus",
    "FeedbackTiming",
    "GenerationStatus",
    "Quiz",
    "QuizAttempt",
    "QuizQuestion",
    "QuizStatus",
    "BankNode",
    "CardState",
    "Item",
    "QuestionBank",
    "ReviewLog",
    "ReviewProgress",
    "AWAITING",
    "Deliverable",
    "DeliverableKind",
    "Enrolment",
    "EnrolmentStatus",
    "JobFailure",
    "NotificationDelivery",
    "NotificationDigestItem",
    "NotificationPreference",
    "OutboxEvent",
    "Payment",
    "PrerequisiteWaiver",
    "ProcessedProviderEvent",
    "Project",
    "ProjectType",
    "RefreshToken",
    "Review",
    "ReviewDecision",
    "Role",
    "Step",
    "StepCompletion",
    "Submission",
    "SubmissionStatus",
    "Track",
    "UsedToken",
    "User",
    "Workspace",
]
