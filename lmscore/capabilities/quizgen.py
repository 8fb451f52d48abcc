"""Quiz-generator capability: draft questions from a prompt (and optional grounding text)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class GenerationRequest:
    title: str
    prompt: str
    num_questions: int
    types: tuple[str, ...] = ("mcq_single",)
    difficulty: int = 3
    track_code: str | None = None
    #: Text the questions must be grounded on (e.g. a track's steps), possibly empty.
    grounding: str = ""


@dataclass(frozen=True)
class GeneratedQuestion:
    type: str
    prompt: str
    options: dict[str, str]
    correct: tuple[str, ...]
    explanation: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


class QuizGenerator(ABC):
    name: ClassVar[str]
    label: ClassVar[str] = ""

    @abstractmethod
    def generate(self, request: GenerationRequest) -> list[GeneratedQuestion]:
        """Return ``request.num_questions`` questions or raise ``GenerationError``."""


class GenerationError(Exception):
    """Generation failed for a reason the trainer should read (bad output, rate limit, auth)."""
