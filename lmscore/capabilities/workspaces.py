"""Workspace capability: one workspace per (learner, track) on some engine.

Status machine (the core keeps it; backends report what the engine says)::

    requested → starting → running → stopping → stopped
         └──────────┴──────────┴──────────┴──────→ failed (with a reason and a message)

``stopped`` and ``failed`` are where a new launch may start again. The learner's files live in
storage the backend keeps per (learner, track) until the workspace is deleted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import urlsplit

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates


class WorkspaceStatus(StrEnum):
    REQUESTED = "requested"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


#: Statuses that hold (or are about to hold) engine resources: the per-node cap counts them.
ACTIVE_STATUSES = frozenset({
    WorkspaceStatus.REQUESTED, WorkspaceStatus.STARTING, WorkspaceStatus.RUNNING,
    WorkspaceStatus.STOPPING,
})
#: Statuses from which a new launch may start.
RESTARTABLE_STATUSES = frozenset({WorkspaceStatus.STOPPED, WorkspaceStatus.FAILED})


class WorkspaceReason(StrEnum):
    """Why a workspace stopped or failed: stable codes clients can branch on."""

    REQUESTED = "requested"  # its owner or an admin stopped it
    IDLE = "idle"  # the idle reaper stopped it
    NOT_CONFIGURED = "not_configured"
    ENGINE_UNREACHABLE = "engine_unreachable"
    IMAGE_MISSING = "image_missing"
    PORT_CLASH = "port_clash"
    OUT_OF_MEMORY = "out_of_memory"
    CRASHED = "crashed"  # the IDE process exited on its own
    START_TIMEOUT = "start_timeout"  # never answered its health check
    VANISHED = "vanished"  # its container disappeared behind lmscore's back
    INTERRUPTED = "interrupted"  # a launch or stop job never finished (worker lost)
    ENGINE_ERROR = "engine_error"


@dataclass(frozen=True)
class WorkspaceSpec:
    workspace_id: int
    user_id: int
    track_code: str
    #: The track's workspace profile (see ``WorkspaceProfileSchema``), defaults filled in.
    profile: dict[str, Any] = field(default_factory=dict)
    #: The path the workspace serves under (``/`` unless the profile keeps the proxy's prefix);
    #: profiles may use it in ``command`` and ``env`` as ``{base_path}``.
    base_path: str = "/"


@dataclass(frozen=True)
class WorkspaceInfo:
    status: WorkspaceStatus
    #: Where the running workspace answers, for the authenticating proxy (never shown as-is
    #: to learners: they get the LMS's per-workspace secret URL).
    url: str | None = None
    message: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    #: A ``WorkspaceReason`` value for ``failed`` (and ``stopped``) results.
    reason: str = ""
    #: The engine's own handle (e.g. a container id), shown to admins.
    reference: str = ""


@dataclass(frozen=True)
class EngineWorkspace:
    """One workspace the engine holds, as ``WorkspaceBackend.inventory`` reports it."""

    workspace_id: int
    reference: str
    running: bool
    #: Current use, e.g. ``memory_bytes``, ``memory_limit_bytes``, ``cpu_seconds``, ``pids``.
    resources: dict[str, Any] = field(default_factory=dict)


class WorkspaceBackend(ABC):
    name: ClassVar[str]
    label: ClassVar[str] = ""
    #: False only for a backend that cannot run workspaces at all (the core's ``local``):
    #: pages then hide the workspace links and launches are refused with its message.
    engine_configured: ClassVar[bool] = True

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


class ReconciledBackend(WorkspaceBackend):
    """A backend whose engine can list what it holds, so the reconciler can find workspaces
    whose containers vanished and remove orphans no row owns."""

    @abstractmethod
    def inventory(self) -> list[EngineWorkspace]:
        """Every workspace this site holds on the engine, running or not, with resource use."""

    @abstractmethod
    def discard(self, reference: str) -> None:
        """Remove an engine workspace no row owns (an orphan ``inventory`` reported), keeping
        the learner's stored work."""


# -- profiles ----------------------------------------------------------------------------------


def _absolute_path(value: str) -> None:
    if not value.startswith("/"):
        raise ValidationError("must be an absolute path starting with /")


class WorkspaceProfileSchema(Schema):
    """A workspace profile: what to run for a track and within which limits. Named profiles
    live in ``[workspaces.profiles.NAME]``; a track picks one by its ``workspace_profile``
    setting (track.toml ``[settings]``)."""

    class Meta:
        unknown = RAISE

    image = fields.String(required=True, validate=validate.Length(min=1, max=255))
    #: The port the IDE listens on inside the workspace.
    port = fields.Integer(required=True, validate=validate.Range(min=1, max=65535))
    command = fields.List(fields.String(), load_default=list)
    env = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]*$")),
                      values=fields.String(), load_default=dict)
    cpus = fields.Float(load_default=1.0, validate=validate.Range(min=0.1, max=64))
    memory_mb = fields.Integer(load_default=1024, validate=validate.Range(min=64, max=262_144))
    pids_limit = fields.Integer(load_default=256, validate=validate.Range(min=16, max=65_536))
    #: Where the learner's stored work is mounted (kept across stop/start and image upgrades).
    volume_path = fields.String(load_default="/workspace", validate=_absolute_path)
    idle_timeout_min = fields.Integer(load_default=30, validate=validate.Range(min=1, max=10_080))
    #: Answers 2xx/3xx (relative to the base path) once the IDE is ready.
    health_path = fields.String(load_default="/", validate=_absolute_path)
    start_timeout_s = fields.Integer(load_default=60, validate=validate.Range(min=1, max=900))
    #: ``uid:gid`` the IDE runs as; never root.
    user = fields.String(load_default="1000:1000",
                         validate=validate.Regexp(r"^[1-9][0-9]*(:[0-9]+)?$",
                                                  error="must be a non-root uid[:gid]"))
    #: Read-only root filesystem; ``tmpfs`` paths (and the volume) stay writable.
    read_only_root = fields.Boolean(load_default=True)
    tmpfs = fields.List(fields.String(validate=_absolute_path), load_default=lambda: ["/tmp"])
    #: Whether the proxy strips ``/ws/<secret>`` before forwarding (IDEs that cannot be told
    #: their base path); false for those that take it (``{base_path}`` in ``command``).
    strip_base_path = fields.Boolean(load_default=True)

    @validates("command")
    def _known_placeholders(self, value: list[str], **_: Any) -> None:
        for part in value:
            try:
                part.format(base_path="/")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValidationError(
                    f"{part!r}: only {{base_path}} may appear in braces (double other braces)"
                ) from exc


#: Production profiles for the bundled tracks; a site redefines them (e.g. to pin another
#: image) under ``[workspaces.profiles.NAME]``. The engine pulls these images in production.
BUILTIN_PROFILES: dict[str, dict[str, Any]] = {
    # Full-Stack Development: VS Code in the browser. Its settings and extensions live in the
    # home directory, so the volume is the whole home; the project folder opens by default.
    "code-server": {
        "image": "docker.io/codercom/code-server:4.96.4",
        "port": 8080,
        "command": ["--auth", "none", "--bind-addr", "0.0.0.0:8080",
                    "--disable-telemetry", "/home/coder/project"],
        "volume_path": "/home/coder",
        "user": "1000:1000",
        "cpus": 1.0,
        "memory_mb": 2048,
        "idle_timeout_min": 60,
        "health_path": "/healthz",
        "tmpfs": ["/tmp"],
    },
    # Data Professional: JupyterLab with the scientific stack; it takes its base path.
    "jupyter": {
        "image": "quay.io/jupyter/scipy-notebook:2024-12-09",
        "port": 8888,
        "command": ["start-notebook.py", "--ServerApp.base_url={base_path}",
                    "--IdentityProvider.token=", "--ServerApp.password=",
                    "--ServerApp.allow_origin=*"],
        "volume_path": "/home/jovyan",
        "user": "1000:100",
        "cpus": 1.0,
        "memory_mb": 2048,
        "idle_timeout_min": 60,
        "health_path": "/api/status",
        "tmpfs": ["/tmp"],
        "strip_base_path": False,
    },
}


#: The path the authenticating proxy serves workspaces under (``/ws/<secret>/``).
PROXIED_PREFIX = "/ws/"
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
_http_url = validate.URL(relative=False, schemes={"http", "https"}, require_tld=False)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, in lower case and without a default
    port, so two spellings of one origin compare equal."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    netloc = parts.netloc.rpartition("@")[2].lower()
    return f"{scheme}://{netloc.removesuffix(_DEFAULT_PORTS.get(scheme, ''))}"


def _proxy_url(value: str) -> None:
    if not value:
        return  # the default: {base_url}/ws/
    example = "such as https://ws.example.org/ws/"
    try:
        _http_url(value)
    except ValidationError:
        raise ValidationError(f"must be an absolute http(s) URL {example}") from None
    parts = urlsplit(value)
    if parts.path.rstrip("/") != PROXIED_PREFIX.rstrip("/") or parts.query or parts.fragment:
        raise ValidationError(f"its path must be {PROXIED_PREFIX}, where the proxy serves "
                              f"workspaces ({example})")


@dataclass(frozen=True)
class WorkspacesSettings:
    """``[workspaces]``: site-wide workspace settings."""

    max_running: int
    stale_after_s: int
    public_url: str
    profiles: dict[str, dict[str, Any]]


class WorkspacesSchema(Schema):
    class Meta:
        unknown = RAISE

    #: Workspaces this node runs at once (requested, starting, running or stopping).
    max_running = fields.Integer(load_default=20, validate=validate.Range(min=1, max=10_000))
    #: A launch or stop still unfinished after this long is settled by the reconciler.
    stale_after_s = fields.Integer(load_default=600, validate=validate.Range(min=30))
    #: Where the authenticating proxy serves workspaces (default: ``{base_url}/ws/``); on
    #: another host than ``base_url``'s, workspaces get an origin of their own.
    public_url = fields.String(load_default="", validate=_proxy_url)
    profiles = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]*$")),
                           values=fields.Nested(WorkspaceProfileSchema), load_default=dict)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> WorkspacesSettings:
        return WorkspacesSettings(**data)
