"""Sandbox capability: run untrusted code (a learner's) once, isolated and under limits.

A sandbox takes a command, the files it needs and the limits, runs it in a fresh, throwaway
environment with no network and a writable ``/tmp`` only, and reports what happened: exit
status, the (truncated) output, the time used and which limit, if any, stopped it. Nothing of
one run is visible to the next, and nothing keeps running after ``run`` returns.
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

#: Where the run's files are put and the command starts, inside every sandbox.
WORKDIR = "/tmp/work"


class LimitHit(StrEnum):
    CPU = "cpu"
    WALL = "wall"
    MEMORY = "memory"
    OUTPUT = "output"
    PROCESSES = "processes"
    DISK = "disk"


@dataclass(frozen=True)
class SandboxLimits:
    cpu_s: float = 5.0
    wall_s: float = 10.0
    memory_mb: int = 128
    processes: int = 64
    #: stdout and stderr together; what comes after is dropped and the run is stopped.
    output_bytes: int = 1_000_000
    #: Size of the writable /tmp (and the largest file a process may write).
    disk_mb: int = 64


def limit_message(limit: LimitHit, limits: SandboxLimits) -> str:
    """What a learner reads when ``limit`` stopped their code."""
    return {
        LimitHit.CPU: f"Your code used more than {limits.cpu_s:g} s of CPU time and was "
                      "stopped. Look for an endless loop or a slow algorithm.",
        LimitHit.WALL: f"Your code ran for more than {limits.wall_s:g} s and was stopped. Look "
                       "for an endless loop, or for code waiting on input that never comes.",
        LimitHit.MEMORY: f"Your code needed more than {limits.memory_mb} MB of memory and was "
                         "stopped.",
        LimitHit.OUTPUT: f"Your code printed more than {limits.output_bytes:,} bytes and was "
                         "stopped. Print less.",
        LimitHit.PROCESSES: f"Your code tried to start more than {limits.processes} processes "
                            "or threads and was refused.",
        LimitHit.DISK: f"Your code wrote more than {limits.disk_mb} MB to disk and was refused.",
    }[limit]


#: What a process prints when the kernel refuses it a resource under one of the limits.
_REFUSALS = (
    (LimitHit.MEMORY, (b"MemoryError", b"Cannot allocate memory", b"std::bad_alloc",
                       b"out of memory")),
    (LimitHit.PROCESSES, (b"Resource temporarily unavailable", b"can't start new thread",
                          b"fork: retry")),
    (LimitHit.DISK, (b"File too large", b"No space left on device")),
)


def refused_limit(stderr: bytes) -> LimitHit | None:
    """The limit a process ran into, judged from its error output: rlimits make the kernel
    refuse (``MemoryError``, ``EAGAIN`` on fork, ``EFBIG``) rather than kill."""
    tail = stderr[-4000:]
    for limit, needles in _REFUSALS:
        if any(needle in tail for needle in needles):
            return limit
    return None


@dataclass(frozen=True)
class SandboxRun:
    #: argv, run in :data:`WORKDIR` with a minimal environment (``PATH``, ``HOME=/tmp``).
    command: tuple[str, ...]
    #: Relative path → content, written under :data:`WORKDIR` before the command starts.
    files: Mapping[str, bytes] = field(default_factory=dict)
    stdin: bytes = b""
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    env: Mapping[str, str] = field(default_factory=dict)
    #: Shown on containers and in logs (e.g. ``submission-12``); never a security boundary.
    label: str = ""

    def __post_init__(self) -> None:
        if not self.command:
            raise ValueError("a sandbox run needs a command")
        for path in self.files:
            clean = posixpath.normpath(path)
            if path.startswith("/") or clean.startswith("..") or clean in (".", ""):
                raise ValueError(f"sandbox file paths are relative and stay inside: {path!r}")


@dataclass(frozen=True)
class SandboxResult:
    #: The command's exit status; 128 + N when signal N ended it; None when it never started.
    exit_code: int | None
    stdout: bytes
    stderr: bytes
    #: Seconds from when the command could start (its container or process made) until it
    #: ended and was reaped, a kill included: what the wall-clock limit is measured against.
    wall_s: float
    cpu_s: float
    limit: LimitHit | None = None
    output_truncated: bool = False
    #: A problem of the sandbox itself (not of the code), for logs and the trainer.
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit is None and not self.error


class SandboxError(RuntimeError):
    """The sandbox cannot run anything (missing tool, engine down): an operator's problem,
    never the learner's."""


class Sandbox(ABC):
    name: ClassVar[str]
    label: ClassVar[str] = ""

    @abstractmethod
    def run(self, request: SandboxRun) -> SandboxResult:
        """Run ``request`` in a fresh sandbox and return once nothing of it is left running.
        A limit hit is a result (``limit`` set), not an exception; raise
        :class:`SandboxError` only when the sandbox itself cannot work."""

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`SandboxError` with an operator-readable message when this sandbox
        cannot run on this machine (e.g. a missing program or an unreachable engine)."""
