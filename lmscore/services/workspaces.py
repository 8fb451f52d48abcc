"""Workspaces: one per (learner, track), run by the track's workspace backend.

Requests only change rows and queue jobs (the API answers 202 and clients poll); the jobs talk
to the engine. Every status change emits ``workspace_changed``. The status machine is in
``lmscore.capabilities.workspaces``; whatever the engine does (unreachable, image missing, out
of memory…), a row ends ``running``, ``stopped`` or ``failed`` with a reason and a message:
the reconciler settles launches and stops that never finished.

Access: a workspace is reached through ``/ws/<access_secret>/`` behind an authenticating
proxy that asks ``authorize_access`` (docs/workspaces.md); the secret is new at each launch and
only its owner and admins get past the check. Others get "not found", never "forbidden". On
an origin of their own (``[workspaces] public_url``), pages the workspaces serve cannot reach
the LMS's: there the LMS hands the browser over with a short-lived token (``open_url``,
``hand_over``) and the proxy checks the workspace cookie it gets, never the LMS session.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from itsdangerous import BadData, SignatureExpired
from marshmallow import ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from ..capabilities.workspaces import (
    ACTIVE_STATUSES,
    BUILTIN_PROFILES,
    PROXIED_PREFIX,
    RESTARTABLE_STATUSES,
    ReconciledBackend,
    WorkspaceBackend,
    WorkspaceInfo,
    WorkspaceProfileSchema,
    WorkspaceReason,
    WorkspaceSpec,
    WorkspaceStatus,
    origin_of,
)
from ..db import utcnow
from ..errors import Conflict, LmsError, NotFound, PermissionDenied
from ..events import WorkspaceChanged
from ..models import Enrolment, Track, User, Workspace
from . import auth, events, learning
from .permissions import Action, can, require

if TYPE_CHECKING:
    from ..platform import Platform

log = logging.getLogger(__name__)

LAUNCH_JOB = "lmscore.launch_workspace"
STOP_JOB = "lmscore.stop_workspace"
REAP_JOB = "lmscore.reap_idle_workspaces"
RECONCILE_JOB = "lmscore.reconcile_workspaces"
#: Proxy checks touch ``last_activity_at`` at most this often (one write per IDE request
#: would be a write storm).
ACTIVITY_RESOLUTION = timedelta(seconds=60)
#: Held (PostgreSQL) while counting workspaces against the per-node cap.
_CAPACITY_LOCK = 0x6C6D_7773  # "lmws"
#: A handover token only crosses one redirect.
HANDOVER_MAX_AGE_S = 60
#: How long a workspace cookie lets a browser in before it passes through the LMS again.
ACCESS_MAX_AGE_S = 12 * 3600
_HANDOVER_PURPOSE = "workspace-handover"
_ACCESS_PURPOSE = "workspace-access"


class WorkspacesNotConfigured(Conflict):
    code = "workspaces_not_configured"


class WorkspaceCapacityReached(Conflict):
    code = "workspace_capacity_reached"


class WorkspaceEngineUnavailable(LmsError):
    status = 503
    code = "workspace_engine_unavailable"


class InvalidHandover(LmsError):
    code = "invalid_handover"


# -- profiles and presentation -----------------------------------------------------------------


def profile_for(lms: Platform, track: Track) -> tuple[str, dict[str, Any]]:
    """The track's workspace profile (name, validated settings): its ``workspace_profile``
    setting names a profile of ``[workspaces.profiles]`` (or a built-in one), or is a table
    holding the profile itself."""
    chosen = (track.settings or {}).get("workspace_profile")
    if isinstance(chosen, dict):
        name, raw = f"track:{track.code}", chosen
    elif isinstance(chosen, str) and chosen in lms.settings.workspaces.profiles:
        return chosen, lms.settings.workspaces.profiles[chosen]
    elif isinstance(chosen, str) and chosen in BUILTIN_PROFILES:
        name, raw = chosen, BUILTIN_PROFILES[chosen]
    else:
        raise WorkspacesNotConfigured(
            f"{track.name} has no workspace profile"
            + (f" (it names {chosen!r}, which is not configured)." if chosen else ".")
        )
    try:
        return name, WorkspaceProfileSchema().load(raw)
    except ValidationError as exc:
        raise WorkspacesNotConfigured(
            f"The workspace profile of {track.name} is invalid: {exc.messages}"
        ) from exc


def workspaces_enabled(lms: Platform, track_code: str | None = None) -> bool:
    """Whether a real workspace engine serves the track (pages show workspace links)."""
    return lms.workspace_backend_for(track_code).engine_configured


def public_url(lms: Platform, row: Workspace) -> str:
    """The workspace's URL: the authenticating proxy's, with the workspace's secret."""
    base = (lms.settings.workspaces.public_url
            or f"{lms.settings.base_url.rstrip('/')}{PROXIED_PREFIX}")
    return f"{base.rstrip('/')}/{row.access_secret}/"


def _public_path(row: Workspace) -> str:
    return f"{PROXIED_PREFIX}{row.access_secret}/"


def workspace_origin(lms: Platform) -> str:
    return origin_of(lms.settings.workspaces.public_url or lms.settings.base_url)


def separate_origin(lms: Platform) -> bool:
    """Whether workspaces have an origin of their own (``[workspaces] public_url`` on another
    host than ``base_url``): what they serve cannot then read LMS pages nor ride on the LMS
    session."""
    return workspace_origin(lms) != origin_of(lms.settings.base_url)


def warn_if_shared_origin(lms: Platform) -> None:
    """At start-up: say so when a real engine serves workspaces on the LMS's own origin."""
    if any_engine(lms) and not separate_origin(lms):
        log.warning(
            "workspaces are served on the LMS's own origin (%s): a page a learner's workspace "
            "serves can read LMS pages and act as whoever opens it, admins included. Set "
            "[workspaces] public_url to a URL on a host of its own (docs/workspaces.md).",
            workspace_origin(lms),
        )


def _spec(lms: Platform, row: Workspace) -> WorkspaceSpec:
    try:
        _, profile = profile_for(lms, row.track)
    except WorkspacesNotConfigured:
        # Stop and delete must work even when the profile has since been removed.
        profile = {}
    keeps_prefix = profile and not profile["strip_base_path"]
    return WorkspaceSpec(
        workspace_id=row.id, user_id=row.user_id, track_code=row.track.code, profile=profile,
        base_path=_public_path(row) if keeps_prefix else "/",
    )


def _backend(lms: Platform, row: Workspace) -> WorkspaceBackend:
    return lms.workspace_backends.get(row.backend)


def _set_status(session: Session, row: Workspace, status: WorkspaceStatus, *,
                reason: str = "", message: str = "") -> None:
    row.status = status.value
    row.reason = reason
    row.message = message
    row.status_changed_at = utcnow()
    session.flush()
    events.emit(session, WorkspaceChanged(
        workspace_id=row.id, user_id=row.user_id, track_code=row.track.code,
        status=status.value, message=message,
    ))


# -- reading -----------------------------------------------------------------------------------


def my_workspaces(session: Session, actor: User) -> list[Workspace]:
    require(actor, Action.LAUNCH_OWN_WORKSPACE)
    return list(session.scalars(
        select(Workspace).where(Workspace.user_id == actor.id)
        .options(joinedload(Workspace.track)).order_by(Workspace.id)
    ))


def any_engine(lms: Platform) -> bool:
    """Whether the site's or some track's workspaces run on a real engine."""
    return any(workspaces_enabled(lms, code) for code in (None, *lms.settings.tracks))


def my_track_workspaces(lms: Platform, session: Session,
                        actor: User) -> list[tuple[Track, Workspace | None]]:
    """The learner's open tracks that have workspaces, each with its workspace (None before
    the first launch)."""
    require(actor, Action.LAUNCH_OWN_WORKSPACE)
    rows = session.execute(
        select(Track, Workspace)
        .join(Enrolment, (Enrolment.track_id == Track.id) & (Enrolment.user_id == actor.id))
        .outerjoin(Workspace, (Workspace.track_id == Track.id) & (Workspace.user_id == actor.id))
        .where(Enrolment.status.in_(learning.OPEN_ENROLMENT), Track.archived_at.is_(None))
        .order_by(Track.name)
    ).all()
    return [(track, row) for track, row in rows if workspaces_enabled(lms, track.code)]


def workspace_for_track(session: Session, actor: User, track: Track) -> Workspace | None:
    return session.scalar(
        select(Workspace).where(Workspace.user_id == actor.id, Workspace.track_id == track.id)
    )


def all_workspaces(session: Session, actor: User, status: str | None = None) -> list[Workspace]:
    require(actor, Action.MANAGE_WORKSPACES)
    query = select(Workspace).options(joinedload(Workspace.track), joinedload(Workspace.user))
    if status:
        query = query.where(Workspace.status == status)
    return list(session.scalars(query.order_by(Workspace.status_changed_at.desc())))


def get_workspace(session: Session, actor: User | None, workspace_id: int) -> Workspace:
    """Its owner's or, for admins, anyone's; "not found" for everyone else."""
    row = session.get(Workspace, workspace_id)
    if row is None or actor is None or not (
        row.user_id == actor.id or can(actor, Action.MANAGE_WORKSPACES)
    ):
        raise NotFound(f"No workspace with id {workspace_id}.")
    return row


# -- launch ------------------------------------------------------------------------------------


def launch(lms: Platform, session: Session, actor: User, track_code: str) -> Workspace:
    """Request a launch of the actor's workspace for a track; a job starts it. Launching one
    already requested, starting or running returns it unchanged. Commits."""
    require(actor, Action.LAUNCH_OWN_WORKSPACE)
    track = learning.get_track(session, track_code)
    enrolment = learning.enrolment_of(session, actor, track.id)
    if enrolment is None or enrolment.status not in learning.OPEN_ENROLMENT:
        raise PermissionDenied(f"Enrol in {track.name} to use its workspace.")
    backend = lms.workspace_backend_for(track.code)
    if not backend.engine_configured:
        launched = backend.launch(WorkspaceSpec(workspace_id=0, user_id=actor.id,
                                                track_code=track.code))
        raise WorkspacesNotConfigured(launched.message or "No workspace engine is configured.")
    profile_name, _ = profile_for(lms, track)

    if lms.db.dialect == "postgresql":
        # Launches on several nodes count and insert one at a time: the cap holds.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CAPACITY_LOCK})
    row = workspace_for_track(session, actor, track)
    if row is not None and row.status == WorkspaceStatus.STOPPING:
        raise Conflict("Your workspace is stopping; launch it again once it has stopped.")
    if row is not None and row.status in ACTIVE_STATUSES:
        return row
    active = session.scalar(
        select(func.count(Workspace.id)).where(Workspace.status.in_(list(ACTIVE_STATUSES)))
    )
    cap = lms.settings.workspaces.max_running
    if active >= cap:
        raise WorkspaceCapacityReached(
            f"All {cap} workspaces this site can run are in use. Try again in a few minutes.",
            details={"max_running": cap},
        )
    if row is None:
        row = Workspace(user_id=actor.id, track_id=track.id, track=track)
        session.add(row)
    row.backend = backend.name
    row.profile_name = profile_name
    row.access_secret = secrets.token_urlsafe(32)
    row.engine_ref = row.engine_url = ""
    row.resources = {}
    try:
        _set_status(session, row, WorkspaceStatus.REQUESTED)
    except IntegrityError:  # a concurrent request created it first
        session.rollback()
        raise Conflict("A launch of this workspace is already under way.") from None
    events.job_after_commit(session, LAUNCH_JOB, workspace_id=row.id)
    session.commit()
    return row


def run_launch(lms: Platform, workspace_id: int) -> None:
    """Job: start a requested workspace on its engine."""
    session = lms.db.session
    row = session.get(Workspace, workspace_id)
    if row is None or row.status != WorkspaceStatus.REQUESTED:
        return  # stopped or deleted before the job ran, or a duplicate delivery
    _set_status(session, row, WorkspaceStatus.STARTING)
    session.commit()
    backend, spec = _backend(lms, row), _spec(lms, row)
    info = _engine_call(lambda: backend.launch(spec), "start")

    session.expire_all()  # a stop or delete may have come in while the engine worked
    row = session.get(Workspace, workspace_id)
    if row is None or row.status != WorkspaceStatus.STARTING:
        undo = backend.delete if row is None else backend.stop
        _engine_call(lambda: undo(spec), "clean up")
        session.rollback()
        return
    row.engine_ref = info.reference
    row.resources = info.resources
    if info.status in (WorkspaceStatus.RUNNING, WorkspaceStatus.STARTING):
        row.engine_url = info.url or ""
        now = utcnow()
        row.started_at = row.last_activity_at = now
        _set_status(session, row, info.status, message=info.message)
    else:
        _set_status(session, row, WorkspaceStatus.FAILED,
                    reason=info.reason or WorkspaceReason.ENGINE_ERROR,
                    message=info.message or "The workspace could not be started.")
    session.commit()


def _engine_call(call, doing: str) -> WorkspaceInfo:
    """Run a backend call; a backend that raises instead of reporting becomes a failure with
    a message, never a stuck row."""
    try:
        result = call()
    except Exception as exc:
        log.exception("workspace backend failed to %s", doing)
        return WorkspaceInfo(
            WorkspaceStatus.FAILED, reason=WorkspaceReason.ENGINE_ERROR,
            message=f"The workspace engine failed to {doing} the workspace: {exc}",
        )
    return result if isinstance(result, WorkspaceInfo) else WorkspaceInfo(WorkspaceStatus.STOPPED)


# -- stop and delete ---------------------------------------------------------------------------


def stop(lms: Platform, session: Session, actor: User, workspace_id: int) -> Workspace:
    """Request a stop (a job does it); stopping one that is not running changes nothing."""
    row = get_workspace(session, actor, workspace_id)
    _begin_stop(session, row, WorkspaceReason.REQUESTED)
    session.commit()
    return row


def _begin_stop(session: Session, row: Workspace, reason: WorkspaceReason) -> None:
    if row.status in RESTARTABLE_STATUSES or row.status == WorkspaceStatus.STOPPING:
        return
    _set_status(session, row, WorkspaceStatus.STOPPING, reason=reason)
    events.job_after_commit(session, STOP_JOB, workspace_id=row.id)


def run_stop(lms: Platform, workspace_id: int) -> None:
    """Job: stop a workspace on its engine, keeping the learner's stored work."""
    session = lms.db.session
    row = session.get(Workspace, workspace_id)
    if row is None or row.status != WorkspaceStatus.STOPPING:
        return
    reason = row.reason or WorkspaceReason.REQUESTED
    info = _engine_call(lambda: _backend(lms, row).stop(_spec(lms, row)), "stop")
    if info.status is WorkspaceStatus.FAILED:
        # The reconciler removes the container once the engine answers again.
        _set_status(session, row, WorkspaceStatus.FAILED,
                    reason=info.reason or WorkspaceReason.ENGINE_ERROR, message=info.message)
    else:
        row.engine_url = ""
        row.stopped_at = utcnow()
        message = ("Stopped after being idle for longer than its idle timeout."
                   if reason == WorkspaceReason.IDLE else info.message)
        _set_status(session, row, WorkspaceStatus.STOPPED, reason=reason, message=message)
    session.commit()


@dataclass(frozen=True)
class EngineRemoval:
    """What removing one workspace from its engine takes, read while its row exists."""

    backend: WorkspaceBackend
    spec: WorkspaceSpec

    def run(self) -> None:
        """Remove the container and the stored work; ``WorkspaceEngineUnavailable`` if the
        engine fails (it may have removed part of it: asking again is safe)."""
        try:
            self.backend.delete(self.spec)
        except Exception as exc:
            log.exception("could not delete workspace %s", self.spec.workspace_id)
            raise WorkspaceEngineUnavailable(
                f"The workspace engine could not delete the workspace: {exc}. Nothing was "
                "removed; try again later."
            ) from exc


def removals_for_user(lms: Platform, session: Session, user: User) -> list[EngineRemoval]:
    """Each of ``user``'s workspaces as an ``EngineRemoval``: their rows go with the user
    (cascade), their containers and stored work must go from the engines too."""
    rows = session.scalars(select(Workspace).where(Workspace.user_id == user.id)
                           .options(joinedload(Workspace.track))).all()
    return [EngineRemoval(_backend(lms, row), _spec(lms, row)) for row in rows]


def delete(lms: Platform, session: Session, actor: User, workspace_id: int) -> None:
    """Remove the workspace and the learner's stored work, now. Commits."""
    row = get_workspace(session, actor, workspace_id)
    EngineRemoval(_backend(lms, row), _spec(lms, row)).run()
    events.emit(session, WorkspaceChanged(
        workspace_id=row.id, user_id=row.user_id, track_code=row.track.code, status="deleted",
        message="The workspace and its files were deleted.",
    ))
    session.delete(row)
    session.commit()


# -- access ------------------------------------------------------------------------------------


def _may_enter(user: User | None, row: Workspace | None) -> bool:
    """Only a running workspace, and only for its owner or an admin."""
    return row is not None and user is not None and row.status == WorkspaceStatus.RUNNING \
        and (row.user_id == user.id or can(user, Action.MANAGE_WORKSPACES))


def _by_secret(session: Session, secret: str) -> Workspace | None:
    return session.scalar(select(Workspace).where(Workspace.access_secret == secret)) \
        if secret else None


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def open_url(lms: Platform, session: Session, actor: User, workspace_id: int) -> str:
    """Where "Open" leads for a running workspace: the workspace itself on the LMS's origin;
    on an origin of its own, a handover there (the LMS session does not reach that origin)."""
    row = get_workspace(session, actor, workspace_id)
    if row.status != WorkspaceStatus.RUNNING:
        raise Conflict("This workspace is not running; start it from its page first.")
    return _handover_url(lms, actor, row) if separate_origin(lms) else public_url(lms, row)


def reopen_url(lms: Platform, session: Session, actor: User, secret: str) -> str:
    """The proxy's way back on a workspace origin of its own: a browser without a valid
    workspace cookie is sent to the LMS at the same ``/ws/<secret>/`` path (signing in on the
    way) and handed over again. "Not found" otherwise, whatever the reason."""
    row = _by_secret(session, secret)
    if not separate_origin(lms) or not _may_enter(actor, row):
        raise NotFound("No such workspace.")
    return _handover_url(lms, actor, row)


def _handover_url(lms: Platform, user: User, row: Workspace) -> str:
    token = auth.signed_serializer(lms, _HANDOVER_PURPOSE).dumps({
        "uid": user.id, "sv": user.session_version, "ws": row.id,
        "key": _fingerprint(row.access_secret), "jti": uuid.uuid4().hex,
    })
    return f"{workspace_origin(lms)}/workspaces/handover?{urlencode({'token': token})}"


@dataclass(frozen=True)
class Handover:
    #: Where the browser goes next: the workspace.
    url: str
    #: The workspace cookie's path: it is sent for this workspace only.
    path: str
    #: The workspace cookie (signed: the user, their session version, the workspace's secret).
    cookie: str


def hand_over(lms: Platform, session: Session, token: str) -> Handover:
    """The workspace origin's end of ``open_url``: check the token (signature, age, the user's
    session, who may enter) and make the workspace cookie the proxy check accepts."""
    again = "open the workspace again from its page."
    try:
        claims = auth.signed_serializer(lms, _HANDOVER_PURPOSE).loads(
            token, max_age=HANDOVER_MAX_AGE_S)
    except SignatureExpired:
        raise InvalidHandover(f"This link to the workspace has expired: {again}") from None
    except BadData:
        raise InvalidHandover(f"This link to the workspace is not valid: {again}") from None
    user = _still_signed_in(session, claims)
    if user is None:
        raise InvalidHandover(f"You have been signed out since; sign in and {again}")
    row = session.get(Workspace, claims["ws"])
    if not _may_enter(user, row) or claims["key"] != _fingerprint(row.access_secret):
        raise NotFound("No such workspace.")
    # Once only: the link passes through the workspace host's logs and the browser's history,
    # and whoever replays it within the minute would get the learner's workspace cookie.
    jti = claims.get("jti")
    if not isinstance(jti, str) or not auth.spend_token(session, jti, _HANDOVER_PURPOSE):
        raise InvalidHandover(f"This link to the workspace has been used: {again}")
    session.commit()
    cookie = auth.signed_serializer(lms, _ACCESS_PURPOSE).dumps(
        {"uid": user.id, "sv": user.session_version, "key": claims["key"]})
    return Handover(url=public_url(lms, row), path=_public_path(row), cookie=cookie)


def cookie_user(lms: Platform, session: Session, cookie: str, secret: str) -> User | None:
    """Whom a workspace cookie from ``hand_over`` signs in for the workspace of ``secret``:
    None when it is missing, tampered with, older than ``ACCESS_MAX_AGE_S``, made for another
    workspace, or its user's session has ended since (password reset, "sign out everywhere")."""
    try:
        claims = auth.signed_serializer(lms, _ACCESS_PURPOSE).loads(
            cookie, max_age=ACCESS_MAX_AGE_S)
    except BadData:
        return None
    if not secrets.compare_digest(claims["key"], _fingerprint(secret)):
        return None
    return _still_signed_in(session, claims)


def _still_signed_in(session: Session, claims: dict[str, Any]) -> User | None:
    """The user the claims name, if their session is still the one the claims were made in."""
    user = session.get(User, claims["uid"])
    return user if user is not None and user.session_version == claims["sv"] else None


@dataclass(frozen=True)
class AccessGrant:
    workspace_id: int
    #: Where the proxy forwards the request's path below ``/ws/<secret>``.
    upstream: str


def authorize_access(lms: Platform, session: Session, user: User | None,
                     secret: str) -> AccessGrant:
    """The proxy's check for ``/ws/<secret>/…``: the running workspace of that secret, if the
    user owns it or is an admin; "not found" otherwise, whatever the reason."""
    row = _by_secret(session, secret)
    if not _may_enter(user, row) or not secrets.compare_digest(row.access_secret, secret):
        raise NotFound("No such workspace.")
    now = utcnow()
    if row.user_id == user.id and (
        row.last_activity_at is None or now - row.last_activity_at >= ACTIVITY_RESOLUTION
    ):
        row.last_activity_at = now
        session.commit()
    # IDEs that know their base path get it back; the others get the path without it.
    prefix = _spec(lms, row).base_path.rstrip("/")
    return AccessGrant(workspace_id=row.id, upstream=row.engine_url.rstrip("/") + prefix)


# -- periodic jobs -----------------------------------------------------------------------------


def reap_idle(lms: Platform) -> int:
    """Job: stop running workspaces idle for longer than their profile's idle timeout."""
    session = lms.db.session
    now = utcnow()
    stopped = 0
    rows = session.scalars(
        select(Workspace).where(Workspace.status == WorkspaceStatus.RUNNING)
        .options(joinedload(Workspace.track))
    ).all()
    for row in rows:
        try:
            _, profile = profile_for(lms, row.track)
            timeout = timedelta(minutes=profile["idle_timeout_min"])
        except WorkspacesNotConfigured:
            timeout = timedelta(minutes=WorkspaceProfileSchema().fields["idle_timeout_min"]
                                .load_default)
        last = row.last_activity_at or row.started_at or row.status_changed_at
        if now - last > timeout:
            _begin_stop(session, row, WorkspaceReason.IDLE)
            stopped += 1
    session.commit()
    return stopped


def reconcile(lms: Platform) -> None:
    """Job: settle launches and stops that never finished, compare the rows with what the
    engines hold (containers gone behind our back, orphans no row owns) and sample resource
    use for the admin list."""
    session = lms.db.session
    _settle_stale(lms, session, utcnow() - timedelta(seconds=lms.settings.workspaces.stale_after_s))
    for backend in lms.workspace_backends:
        if not isinstance(backend, ReconciledBackend):
            continue  # its engine cannot say what it holds
        try:
            held = backend.inventory()
        except Exception:
            log.exception("could not list the workspaces of backend %s", backend.name)
            continue
        _reconcile_backend(lms, session, backend, {e.workspace_id: e for e in held})
    session.commit()


def _settle_stale(lms: Platform, session: Session, cutoff: datetime) -> None:
    stale = session.scalars(
        select(Workspace).where(
            Workspace.status.in_([WorkspaceStatus.REQUESTED, WorkspaceStatus.STARTING,
                                  WorkspaceStatus.STOPPING]),
            Workspace.status_changed_at < cutoff,
        )
    ).all()
    for row in stale:
        if row.status == WorkspaceStatus.STOPPING:
            # Its stop job was lost: run the stop again (stopping twice is harmless).
            row.status_changed_at = utcnow()
            events.job_after_commit(session, STOP_JOB, workspace_id=row.id)
        else:
            _set_status(session, row, WorkspaceStatus.FAILED, reason=WorkspaceReason.INTERRUPTED,
                        message="The launch did not finish (the worker running it was lost). "
                                "Launch the workspace again.")


def _reconcile_backend(lms: Platform, session: Session, backend: ReconciledBackend,
                       held: dict[int, Any]) -> None:
    rows = {row.id: row for row in session.scalars(
        select(Workspace).where(Workspace.backend == backend.name)
        .options(joinedload(Workspace.track))
    )}
    for row in rows.values():
        if row.status != WorkspaceStatus.RUNNING:
            continue
        entry = held.get(row.id)
        if entry is None:
            row.engine_url = ""
            _set_status(session, row, WorkspaceStatus.FAILED, reason=WorkspaceReason.VANISHED,
                        message="The workspace's container disappeared (removed outside "
                                "lmscore). Launch it again: your files are kept.")
        elif not entry.running:
            # Ask the engine why it ended (out of memory, crashed…) for the learner's message.
            info = _engine_call(lambda row=row: backend.status(_spec(lms, row)), "inspect")
            row.engine_url = ""
            _set_status(session, row, WorkspaceStatus.FAILED,
                        reason=info.reason or WorkspaceReason.CRASHED,
                        message=info.message or "The workspace stopped on its own.")
        else:
            row.resources = {**row.resources, **entry.resources,
                             "sampled_at": utcnow().isoformat()}
    for workspace_id, entry in held.items():
        row = rows.get(workspace_id)
        if row is None or row.status not in ACTIVE_STATUSES:
            try:
                backend.discard(entry.reference)
            except Exception:
                log.exception("could not remove orphaned workspace %s", entry.reference)


# -- presentation ------------------------------------------------------------------------------


def summary(lms: Platform, row: Workspace) -> dict[str, Any]:
    """What its owner sees (API, status page, polling): the URL only while it runs."""
    return {
        "id": row.id,
        "track_code": row.track.code,
        "status": row.status,
        "reason": row.reason,
        "message": row.message,
        "url": public_url(lms, row) if row.status == WorkspaceStatus.RUNNING else None,
        "profile": row.profile_name,
        "last_activity_at": row.last_activity_at,
        "started_at": row.started_at,
        "stopped_at": row.stopped_at,
        "status_changed_at": row.status_changed_at,
    }


def admin_summary(lms: Platform, row: Workspace) -> dict[str, Any]:
    """What admins see: the owner, the engine's handle and the last sampled resource use."""
    return {
        **summary(lms, row),
        "user_id": row.user_id,
        "user_email": row.user.email,
        "backend": row.backend,
        "engine_ref": row.engine_ref,
        "resources": row.resources,
    }
