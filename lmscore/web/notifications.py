"""Notification settings (profile) and the unsubscribe page opened from an email."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from .. import current_platform
from ..errors import LmsError
from ..services import notifications
from .session_auth import login_required, web_user

bp = Blueprint("notification_pages", __name__)


def _settings_page(errors: dict[str, list[str]] | None = None, status: int = 200):
    lms = current_platform()
    user = web_user()
    rows = notifications.preferences(lms, lms.db.session, user)
    return render_template("accounts/notifications.html", rows=rows, modes=notifications.MODES,
                           errors=errors or {}), status


@bp.route("/profile/notifications", methods=["GET", "POST"])
@login_required
def settings():
    if request.method == "GET":
        return _settings_page()
    lms = current_platform()
    # One select per (channel, kind), named "<channel>:<kind>"; only those sent change.
    changes = [
        {"channel": channel, "kind": kind, "mode": request.form[f"{channel}:{kind}"]}
        for channel, kind in (
            (row["channel"], row["kind"])
            for row in notifications.preferences(lms, lms.db.session, web_user())
        )
        if f"{channel}:{kind}" in request.form
    ]
    try:
        notifications.set_preferences(lms, lms.db.session, web_user(), changes)
    except LmsError as exc:
        lms.db.session.rollback()
        return _settings_page({"_form": [exc.message]}, exc.status)
    flash("Notification settings saved.", "success")
    return redirect(url_for("notification_pages.settings"))


@bp.route("/notifications/unsubscribe", methods=["GET", "POST"])
def unsubscribe():
    """No sign-in needed: the signed token says who. GET only shows a button (mail scanners
    follow links); mail clients' one-click POST goes to the API twin of this URL."""
    lms = current_platform()
    token = request.values.get("token", "")
    try:
        if request.method == "GET":
            found = notifications.read_unsubscribe_token(lms, lms.db.session, token)
        else:
            found = notifications.unsubscribe(lms, lms.db.session, token)
    except LmsError as exc:
        lms.db.session.rollback()
        return render_template("accounts/unsubscribe.html", error=exc.message, token=token,
                               done=False, found=None), exc.status
    return render_template("accounts/unsubscribe.html", error=None, token=token, found=found,
                           done=request.method == "POST")
