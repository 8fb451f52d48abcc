"""Workspace capability: one workspace per (learner, track) on some engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar


class WorkspaceStatus(StrEnum):
    REQUESTED = "requested"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True)
class WorkspaceSpec:
    workspace_id: int
    user_id: int
    track_code: str
    #: The track's workspace profile (image, port, limits, …), as configured.
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkspaceInfo:
    status: WorkspaceStatus
    url: str | None = None
    message: str = ""
    resources: dict[str, Any] = field(default_factory=dict)


class WorkspaceBackend(ABC):
    name: ClassVar[str]
    label: ClassVar[str] = ""

    @abstractmethod
    def launch(self, spec: WorkspaceSpec) -> WorkspaceInfo:
        """Start (or restart) the workspace; returns RUNNING, STARTING or FAILED with a
        learner-readable message."""

    @abstractmethod
    def status(self, spec: WorkspaceSpec) -> WorkspaceInfo: ...

    @abstractmethod
    def stop(self, spec: WorkspaceSpec) -> WorkspaceInfo: ...

    @abstractmethod
    def delete(self, spec: WorkspaceSpec) -> None:
        """Remove the workspace and the learner's stored work."""
