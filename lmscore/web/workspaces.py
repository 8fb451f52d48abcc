"""Workspace pages: the learner's launch/status page per track, the admin list, the status
the page's script polls, the way into a workspace (on an origin of its own: a handover that
sets the workspace cookie) and the check the authenticating proxy makes for ``/ws/<secret>/``
(docs/workspaces.md)."""

from __future__ import annotations

import re

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from .. import current_platform
from ..capabilities.workspaces import RESTARTABLE_STATUSES
from ..errors import Conflict, LmsError, NotFound
from ..services import learning, workspaces
from ..services.permissions import Action
from .session_auth import login_required, web_user
from .trainer import requires

bp = Blueprint("workspace_pages", __name__)

POLL_SECONDS = 2
#: The path the proxy serves workspaces under; the secret is its first segment.
PROXIED_PATH = re.compile(r"^/ws/(?P<secret>[A-Za-z0-9_-]{20,64})(?:/|$)")
#: Set on the workspace origin by the handover; the proxy check reads it there.
WORKSPACE_COOKIE = "lms_workspace"


@bp.app_template_global()
def workspaces_enabled(track_code: str | None = None) -> bool:
    """Whether pages link to workspaces: a real engine serves the track."""
    return workspaces.workspaces_enabled(current_platform(), track_code)


@bp.get("/workspaces")
@login_required
def mine():
    lms = current_platform()
    return render_template("workspaces/mine.html", rows=workspaces.my_track_workspaces(
        lms, lms.db.session, web_user()))


@bp.get("/tracks/<code>/workspace")
@login_required
def page(code: str):
    lms = current_platform()
    session = lms.db.session
    user = web_user()
    track = learning.get_track(session, code)
    enrolment = learning.enrolment_of(session, user, track.id)
    row = workspaces.workspace_for_track(session, user, track)
    return render_template(
        "workspaces/workspace.html", track=track, workspace=row,
        enrolled=enrolment is not None and enrolment.status in learning.OPEN_ENROLMENT,
        enabled=workspaces.workspaces_enabled(lms, track.code),
        waiting=row is not None and row.status not in RESTARTABLE_STATUSES
        and row.status != "running",
        poll_seconds=POLL_SECONDS,
    )


@bp.post("/tracks/<code>/workspace")
@login_required
def launch(code: str):
    lms = current_platform()
    try:
        workspaces.launch(lms, lms.db.session, web_user(), code)
    except LmsError as exc:
        lms.db.session.rollback()
        flash(exc.message, "error")
    else:
        flash("Your workspace is starting. This page updates by itself.", "success")
    return redirect(url_for("workspace_pages.page", code=code.upper()))


def _back_to(row_track_code: str, owner_id: int):
    if owner_id == web_user().id:
        return redirect(url_for("workspace_pages.page", code=row_track_code))
    return redirect(url_for("workspace_pages.admin_list"))


@bp.post("/workspaces/<int:workspace_id>/stop")
@login_required
def stop(workspace_id: int):
    lms = current_platform()
    row = workspaces.stop(lms, lms.db.session, web_user(), workspace_id)
    flash("The workspace is stopping. Your files are kept.", "success")
    return _back_to(row.track.code, row.user_id)


@bp.post("/workspaces/<int:workspace_id>/delete")
@login_required
def delete(workspace_id: int):
    lms = current_platform()
    session = lms.db.session
    row = workspaces.get_workspace(session, web_user(), workspace_id)
    code, owner_id = row.track.code, row.user_id
    try:
        workspaces.delete(lms, session, web_user(), workspace_id)
    except LmsError as exc:
        session.rollback()
        flash(exc.message, "error")
    else:
        flash("The workspace and its files were deleted.", "success")
    return _back_to(code, owner_id)


@bp.get("/workspaces/<int:workspace_id>/status")
@login_required
def status(workspace_id: int):
    """For the status page's script: the workspace as recorded."""
    lms = current_platform()
    row = workspaces.get_workspace(lms.db.session, web_user(), workspace_id)
    summary = workspaces.summary(lms, row)
    summary["waiting"] = row.status not in RESTARTABLE_STATUSES and row.status != "running"
    return jsonify({key: value.isoformat() if hasattr(value, "isoformat") else value
                    for key, value in summary.items()})


@bp.post("/workspaces/<int:workspace_id>/open")
@login_required
def open_workspace(workspace_id: int):
    """A form (CSRF-checked), not a link: a page served on the workspace origin must not be
    able to send an admin's browser into another learner's workspace on that same origin."""
    lms = current_platform()
    session = lms.db.session
    row = workspaces.get_workspace(session, web_user(), workspace_id)
    try:
        return redirect(workspaces.open_url(lms, session, web_user(), workspace_id), 303)
    except Conflict as exc:  # it stopped meanwhile: back to where it can be started again
        flash(exc.message, "error")
        return _back_to(row.track.code, row.user_id)


@bp.get("/ws/<secret>/", defaults={"rest": ""})
@bp.get("/ws/<secret>/<path:rest>")
@login_required
def reopen(secret: str, rest: str):
    """Reached on the LMS's origin only when workspaces have their own: their proxy sends
    browsers without a valid workspace cookie here to be handed over again."""
    lms = current_platform()
    return redirect(workspaces.reopen_url(lms, lms.db.session, web_user(), secret))


@bp.get("/workspaces/handover")
def handover():
    """On the workspace origin: trade the token ``open_workspace`` sent for the workspace
    cookie, then go to the workspace, leaving the token out of the address bar."""
    lms = current_platform()
    handed = workspaces.hand_over(lms, lms.db.session, request.args.get("token", ""))
    response = redirect(handed.url)
    # Host-only (no Domain): the LMS's origin never gets it, nor other hosts.
    response.set_cookie(
        WORKSPACE_COOKIE, handed.cookie, max_age=workspaces.ACCESS_MAX_AGE_S, path=handed.path,
        secure=lms.settings.web.behind_tls or request.is_secure, httponly=True, samesite="Lax",
    )
    return response


@bp.get("/workspaces/proxy-auth")
def proxy_auth():
    """The authenticating proxy's sub-request (nginx ``auth_request``) for the original
    ``/ws/<secret>/…`` URI: 204 with the upstream to forward to, 401 when signed out (the proxy
    sends the browser to sign in, or on a workspace origin of its own back through the LMS to
    be handed over again), 404 for anything else."""
    lms = current_platform()
    match = PROXIED_PATH.match(request.headers.get("X-Original-URI", ""))
    secret = match["secret"] if match else ""
    if workspaces.separate_origin(lms):
        # Never the LMS session there: the workspace cookie, made for this workspace.
        user = workspaces.cookie_user(lms, lms.db.session,
                                      request.cookies.get(WORKSPACE_COOKIE, ""), secret)
    else:
        user = web_user()
    if user is None:
        return "", 401
    try:
        grant = workspaces.authorize_access(lms, lms.db.session, user, secret)
    except NotFound:
        return "", 404
    return "", 204, {"X-Workspace-Upstream": grant.upstream, "Cache-Control": "no-store"}


@bp.get("/admin/workspaces")
@requires(Action.MANAGE_WORKSPACES)
def admin_list():
    lms = current_platform()
    chosen = request.args.get("status", "")
    rows = workspaces.all_workspaces(lms.db.session, web_user(), chosen or None)
    return render_template(
        "admin/workspaces.html", rows=[workspaces.admin_summary(lms, row) for row in rows],
        status=chosen, statuses=[s.value for s in workspaces.WorkspaceStatus],
        max_running=lms.settings.workspaces.max_running,
    )
