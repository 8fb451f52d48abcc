"""The interfaces providers implement, and the registries that hold them."""

from .content import ContentError, ContentSource, TrackSpec
from .grading import Answer, GradableItem, Grader, GradeResult
from .notifications import Notification, NotificationChannel, NotificationKind
from .payments import (
    CheckoutRequest,
    CheckoutResult,
    InvalidProviderEvent,
    OutcomeKind,
    PaymentOutcome,
    PaymentProvider,
    PaymentProviderError,
    PaymentStatus,
    ProviderEvent,
    RefundResult,
)
from .quizgen import GeneratedQuestion, GenerationError, GenerationRequest, QuizGenerator
from .recommenders import (
    Recommendation,
    RecommendationKind,
    RecommendationRequest,
    Recommender,
)
from .registry import Registry
from .sandbox import (
    LimitHit,
    Sandbox,
    SandboxError,
    SandboxLimits,
    SandboxResult,
    SandboxRun,
)
from .scheduling import CardState, Rating, Scheduler
from .workspaces import (
    EngineWorkspace,
    ReconciledBackend,
    WorkspaceBackend,
    WorkspaceInfo,
    WorkspaceReason,
    WorkspaceSpec,
    WorkspaceStatus,
)

__all__ = [
    "Answer", "CardState", "CheckoutRequest", "CheckoutResult", "ContentError", "ContentSource",
    "GeneratedQuestion", "GenerationError", "GenerationRequest", "GradableItem", "GradeResult",
    "Grader", "Notification", "NotificationChannel", "NotificationKind",
    "PaymentProvider", "PaymentStatus",
    "QuizGenerator", "Rating", "Recommendation", "RecommendationKind", "RecommendationRequest",
    "Recommender", "RefundResult", "Registry", "Scheduler", "TrackSpec",
    "LimitHit", "Sandbox", "SandboxError", "SandboxLimits", "SandboxResult", "SandboxRun",
    "InvalidProviderEvent", "OutcomeKind", "PaymentOutcome", "PaymentProviderError",
    "ProviderEvent",
    "EngineWorkspace", "ReconciledBackend", "WorkspaceBackend", "WorkspaceInfo", "WorkspaceReason",
    "WorkspaceSpec",
    "WorkspaceStatus",
]
