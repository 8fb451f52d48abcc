"""Pages: connect / disconnect GitHub (profile) and start a project (project page). The
sections themselves are drawn into core pages through template slots (see plugin.py)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, session, url_for

from lmscore import current_platform
from lmscore.errors import LmsError
from lmscore.web.session_auth import login_required, web_user

from . import service

bp = Blueprint("lms_github", __name__)
#: The OAuth ``state`` of the authorisation in progress, bound to this browser session and
#: taken out (single use) when GitHub sends the browser back.
STATE_KEY = "lms_github_oauth_state"


def _profile():
    return redirect(url_for("accounts.profile", _anchor="github"))


@bp.post("/github/connect")
@login_required
def connect():
    try:
        url, state = service.begin_link(current_platform(), web_user())
    except LmsError as exc:
        flash(exc.message, "error")
        return _profile()
    session[STATE_KEY] = state
    return redirect(url)


@bp.get(service.CALLBACK_PATH)
@login_required
def callback():
    lms = current_platform()
    try:
        service.finish_link(
            lms, lms.db.session, web_user(), expected_state=session.pop(STATE_KEY, None),
            state=request.args.get("state", ""), code=request.args.get("code", ""),
            error=request.args.get("error", ""))
    except LmsError as exc:
        lms.db.session.rollback()
        flash(exc.message, "error")
        return _profile()
    flash("GitHub authorised the link; connecting your account…", "success")
    return _profile()


@bp.post("/github/disconnect")
@login_required
def disconnect():
    service.disconnect(current_platform().db.session, web_user())
    flash("Your GitHub account is disconnected.", "success")
    return _profile()


@bp.post("/projects/<int:project_id>/github/start")
@login_required
def start(project_id: int):
    lms = current_platform()
    try:
        repository = service.start_project(lms, lms.db.session, web_user(), project_id)
    except LmsError as exc:
        lms.db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(f"Your repository {repository.owner}/{repository.name} is ready."
              if repository.status == "ready" else
              f"Creating your repository {repository.owner}/{repository.name} on GitHub…",
              "success")
    return redirect(url_for("learner.project", project_id=project_id, _anchor="github"))
