"""Grader capability: scores one answer to one item. Graders are chosen per item by the
item's stored grader name, never by registration order."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class GradableItem:
    """What a grader may know about an item: no database rows, no request."""

    id: str
    type: str
    prompt: str
    options: dict[str, str] = field(default_factory=dict)
    # Shape depends on the grader: choice → {"A": 1.0, "C": -0.5} fractions or ["A"];
    # short answer → alternatives; numeric → {"value": 3.14, "tolerance": 0.01}.
    answer_key: Any = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    selected: tuple[str, ...] = ()
    text: str | None = None
    value: float | None = None
    elapsed_ms: int | None = None


@dataclass(frozen=True)
class GradeResult:
    score: float
    max_score: float
    feedback: str = ""
    needs_manual_review: bool = False
    #: Grader-specific, JSON-serialisable detail (e.g. the code grader's per-test results),
    #: stored with the result and shown to the learner and the trainer.
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def correct(self) -> bool:
        return not self.needs_manual_review and self.max_score > 0 and self.score >= self.max_score


class Grader(ABC):
    name: ClassVar[str]
    label: ClassVar[str] = ""
    #: Item types this grader is the default for (e.g. ``("mcq_single", "mcq_multi")``).
    item_types: ClassVar[tuple[str, ...]] = ()
    #: True when grading is slow (it runs code): the core then grades in a background job,
    #: never during a request.
    background: ClassVar[bool] = False

    @abstractmethod
    def grade(self, item: GradableItem, answer: Answer) -> GradeResult:
        """Score ``answer``. Raise ``ValueError`` with a learner-readable message when the
        answer has the wrong shape for this item (e.g. an option key that does not exist)."""
