"""Recommender capability: rank what a learner should do next, each with its reason.

Several recommenders can be enabled at once; ``lmscore.services.recommendations`` merges their
results with the weights configured under ``[recommendations]``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..services.learning import TrackProgress


class RecommendationKind(StrEnum):
    NEXT_STEP = "next_step"
    REVISE_FACET = "revise_facet"
    REVIEW_DUE = "review_due"
    QUIZ = "quiz"
    ADVANCED_PROJECT = "advanced_project"


@dataclass(frozen=True)
class Recommendation:
    """One thing to do. ``target`` identifies it across providers ("step:12", "bank:SQL",
    "facet:SQL/sql/joins/…", "quiz:3", "project:7"): two providers recommending the same
    (kind, target) are merged. ``score`` is the provider's own priority in 0–1; ``reason``
    is one sentence a learner understands, and ``evidence`` the numbers behind it
    (JSON-serialisable)."""

    kind: RecommendationKind
    target: str
    title: str
    score: float
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    #: Where the learner acts on it (a site-relative path), if anywhere.
    url: str | None = None
    #: A few words under the title on the dashboard ("Next step in Data Professional",
    #: "Review: 12 cards due in SQL"); empty: the kind's name.
    summary: str = ""
    #: The project it leads into (the project itself, one of its steps or deliverables), if
    #: any: it is never offered while that project is locked for the learner.
    project_id: int | None = None


@dataclass(frozen=True)
class RecommendationRequest:
    user_id: int
    now: datetime
    #: The most recommendations the caller will show; a provider may return fewer.
    limit: int = 10
    #: The learner's progress in each of their tracks (``learning.my_progress``) when the
    #: caller has computed it already, as the dashboard has; None otherwise. Read it with
    #: ``lmscore.services.recommendations.learner_progress``, which computes it when absent.
    progress: Sequence[TrackProgress] | None = None


class Recommender(ABC):
    name: ClassVar[str]
    label: ClassVar[str] = ""

    @abstractmethod
    def recommend(self, session: Session, request: RecommendationRequest) -> list[Recommendation]:
        """Return recommendations for ``request.user_id``, best first. Read-only: never
        commit. Return an empty list for a user with nothing to recommend (staff, say)."""
