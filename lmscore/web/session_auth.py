"""Web sign-in state: the session cookie holds the user id and the user's session version,
so a password change or "sign out everywhere" ends every browser session."""

from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING

from flask import Flask, g, redirect, request, session, url_for

from ..models import User

if TYPE_CHECKING:
    from ..platform import Platform


def init_app(app: Flask, lms: Platform) -> None:
    @app.context_processor
    def inject_user():
        return {"current_user": web_user()}


def web_user() -> User | None:
    if "lms_web_user" in g:
        return g.lms_web_user
    from .. import current_platform

    user = None
    user_id, version = session.get("uid"), session.get("sv")
    if user_id is not None:
        user = current_platform().db.session.get(User, user_id)
        if user is None or user.session_version != version:
            session.clear()
            user = None
    g.lms_web_user = user
    return user


def sign_in(user: User) -> None:
    session.clear()  # a fresh session (and CSRF token) at every sign-in: no fixation
    session["uid"] = user.id
    session["sv"] = user.session_version
    session.permanent = True
    g.lms_web_user = user


def sign_out() -> None:
    session.clear()
    g.lms_web_user = None


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if web_user() is None:
            # full_path ends in a bare "?" when there is no query string.
            back = request.full_path if request.query_string else request.path
            return redirect(url_for("accounts.login", next=back))
        return view(*args, **kwargs)

    return wrapper
