"""Content-source capability: yields tracks (projects, steps, deliverables) and question banks
as plain specs; the core's sync service writes them to the database idempotently."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class DeliverableSpec:
    key: str
    title: str
    kind: str  # url | file | repository | quiz | code | text
    required: bool = True
    grader: str | None = None
    description: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepSpec:
    number: int
    slug: str
    title: str
    body_markdown: str
    estimated_minutes: int | None = None


@dataclass(frozen=True)
class ProjectSpec:
    number: int
    slug: str
    title: str
    type: str = "INTERNAL"  # INTERNAL | CAPSTONE
    summary: str = ""
    tech_stack: tuple[str, ...] = ()
    prerequisites: tuple[int, ...] = ()
    github_template_repo: str | None = None
    estimated_hours: int | None = None
    steps: tuple[StepSpec, ...] = ()
    deliverables: tuple[DeliverableSpec, ...] = ()


@dataclass(frozen=True)
class ItemSpec:
    external_id: str
    type: str
    prompt: str
    options: dict[str, str] = field(default_factory=dict)
    answer: Any = None
    explanation: str = ""
    difficulty: int = 3
    tags: tuple[str, ...] = ()
    facet_path: tuple[str, ...] = ()  # (topic, subtopic, leaf, facet)


@dataclass(frozen=True)
class TrackSpec:
    code: str
    name: str
    description: str = ""
    duration_weeks: int | None = None
    price_minor: int = 0
    currency: str = "EUR"
    settings: dict[str, Any] = field(default_factory=dict)
    projects: tuple[ProjectSpec, ...] = ()
    items: tuple[ItemSpec, ...] = ()
    #: Where the spec came from, for error messages ("tracks/dp/track.toml").
    origin: str = ""


class ContentSource(ABC):
    name: ClassVar[str]
    label: ClassVar[str] = ""

    @abstractmethod
    def tracks(self) -> Iterable[TrackSpec]:
        """Every track this source provides. Raise ``ContentError`` naming file, line and field
        for invalid content."""


class ContentError(ValueError):
    def __init__(self, message: str, *, file: str = "", line: int | None = None, field: str = ""):
        where = file + (f":{line}" if line else "")
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}" if where else message)
        self.file, self.line, self.field = file, line, field
