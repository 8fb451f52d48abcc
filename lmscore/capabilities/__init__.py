"""The interfaces providers implement, and the registries that hold them."""

from .content import ContentError, ContentSource, TrackSpec
from .grading import Answer, GradableItem, Grader, GradeResult
from .notifications import Notification, NotificationChannel
from .payments import (
    CheckoutRequest,
    CheckoutResult,
    PaymentProvider,
    PaymentStatus,
    RefundResult,
)
from .quizgen import GeneratedQuestion, GenerationError, GenerationRequest, QuizGenerator
from .registry import Registry
from .scheduling import CardState, Rating, Scheduler
from .workspaces import WorkspaceBackend, WorkspaceInfo, WorkspaceSpec, WorkspaceStatus

__all__ = [
    "Answer", "CardState", "CheckoutRequest", "CheckoutResult", "ContentError", "ContentSource",
    "GeneratedQuestion", "GenerationError", "GenerationRequest", "GradableItem", "GradeResult",
    "Grader", "Notification", "NotificationChannel", "PaymentProvider", "PaymentStatus",
    "QuizGenerator", "Rating", "RefundResult", "Registry", "Scheduler", "TrackSpec",
    "WorkspaceBackend", "WorkspaceInfo", "WorkspaceSpec", "WorkspaceStatus",
]
