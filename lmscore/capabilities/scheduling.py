"""Scheduler capability: turns a review rating into the card's next state."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class Rating(StrEnum):
    AGAIN = "again"
    HARD = "hard"
    GOOD = "good"
    EASY = "easy"


@dataclass(frozen=True)
class CardState:
    """One learner's memory of one item, as a scheduler sees it.

    ``due_at`` is timezone-aware UTC; ``interval_days`` is the scheduled gap (0 = again today);
    ``data`` holds the scheduler's own JSON-serialisable fields (e.g. SM-2's EF, FSRS's
    stability) and is stored and handed back untouched.
    """

    due_at: datetime
    interval_days: float
    data: dict[str, Any] = field(default_factory=dict)


class Scheduler(ABC):
    """A spaced-repetition algorithm. Providers must be pure: same input, same output (no
    randomness unless the provider documents it and lets tests turn it off)."""

    name: ClassVar[str]
    label: ClassVar[str] = ""

    @abstractmethod
    def review(
        self, state: CardState | None, rating: Rating, reviewed_at: datetime
    ) -> CardState:
        """The state after a review rated ``rating`` at ``reviewed_at`` (aware UTC).
        ``state`` is None for a card never reviewed before."""

    def for_learner(self, session: Session, user_id: int) -> Scheduler:
        """This scheduler as it applies to one learner. Algorithms with per-learner parameters
        (e.g. FSRS after optimisation) return an instance bound to them; the default is the
        scheduler itself. Called once per request, before ``review``/``retrievability``."""
        return self

    def retrievability(self, state: CardState, at: datetime) -> float | None:
        """The scheduler's estimate (0–1) that the learner recalls the item at ``at``, or None
        when the algorithm has no such estimate (mastery then falls back to intervals)."""
        return None
