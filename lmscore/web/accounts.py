"""Sign-up, sign-in, sign-out, the profile page, password reset and email verification."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for

from .. import current_platform
from ..errors import LmsError, RetryLater
from ..services import auth, users
from .session_auth import login_required, sign_in, sign_out, web_user

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: never an open redirect."""
    home = url_for("pages.home")
    if not target or not target.startswith("/") or target.startswith("//"):
        return home
    # Browsers read "\" as "/" and drop tabs and newlines, so "/\evil.example" leaves the site.
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return home
    parts = urlsplit(target)
    return home if parts.scheme or parts.netloc else target


def _form_errors(exc: LmsError) -> dict[str, list[str]]:
    """Field errors for the form; anything else (a bad link, a lock) as one form-level error."""
    fields = {k: v for k, v in exc.details.get("fields", {}).items() if k != "token"}
    return fields or {"_form": [exc.message]}


def _ip() -> str:
    return request.remote_addr or ""


def _page(template: str, errors: dict[str, list[str]] | None = None, status: int = 200, **context):
    """Render ``template``; 422 when a form came back with errors."""
    if errors and status == 200:
        status = 422
    return render_template(template, errors=errors or {}, **context), status


@bp.route("/register", methods=["GET", "POST"])
def register():
    if web_user() is not None:
        return redirect(url_for("pages.home"))
    form = {"name": "", "email": ""}
    if request.method == "POST":
        form = {k: request.form.get(k, "").strip() for k in ("name", "email")}
        lms = current_platform()
        try:
            auth.check_rate(lms, _ip(), form["email"])
            user = auth.register(lms, lms.db.session, email=form["email"], name=form["name"],
                                 password=request.form.get("password", ""))
        except LmsError as exc:
            lms.db.session.rollback()
            return _page("accounts/register.html", _form_errors(exc), exc.status, form=form)
        sign_in(user)
        flash("Welcome! We sent you an email to confirm your address.", "success")
        return redirect(url_for("pages.home"))
    return _page("accounts/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = _safe_next(request.values.get("next"))
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        lms = current_platform()
        try:
            auth.check_rate(lms, _ip(), email)
            user = auth.check_credentials(lms, lms.db.session, email,
                                          request.form.get("password", ""))
        except LmsError as exc:
            body, status = _page("accounts/login.html", {"_form": [exc.message]}, exc.status,
                                 email=email, next=next_url)
            if isinstance(exc, RetryLater):
                return body, status, {"Retry-After": str(exc.retry_after)}
            return body, status
        sign_in(user)
        return redirect(next_url)
    if web_user() is not None:
        return redirect(next_url)
    return _page("accounts/login.html", email="", next=next_url)


@bp.post("/logout")
def logout():
    sign_out()
    flash("You are signed out.", "info")
    return redirect(url_for("pages.home"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    user = web_user()
    if request.method == "POST":
        lms = current_platform()
        changes = {k: request.form.get(k, "") for k in ("name", "timezone")}
        try:
            users.update_user(lms.db.session, actor=user, target=user, changes=changes)
        except LmsError as exc:
            lms.db.session.rollback()
            # What was typed comes back, not the stored values the error is not about.
            return _page("accounts/profile.html", _form_errors(exc), exc.status, user=user,
                         form=changes)
        flash("Profile saved.", "success")
        return redirect(url_for("accounts.profile"))
    return _page("accounts/profile.html", user=user)


@bp.post("/profile/password")
@login_required
def change_password():
    user = web_user()
    lms = current_platform()
    try:
        auth.check_rate(lms, _ip(), user.email)
        auth.change_password(lms.db.session, user, request.form.get("current_password", ""),
                             request.form.get("new_password", ""))
    except LmsError as exc:
        lms.db.session.rollback()
        errors = _form_errors(exc)
        if "password" in errors:  # the policy names the field "password"; the form "new_password"
            errors["new_password"] = errors.pop("password")
        return _page("accounts/profile.html", errors, exc.status, user=user)
    sign_in(user)  # every other session has ended; this browser stays signed in
    flash("Password changed. Other devices have been signed out.", "success")
    return redirect(url_for("accounts.profile"))


@bp.route("/password-reset", methods=["GET", "POST"])
def password_reset():
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        lms = current_platform()
        try:
            auth.check_rate(lms, _ip(), email)
        except LmsError as exc:
            return _page("accounts/password_reset.html", {"_form": [exc.message]}, exc.status,
                         email=email, sent=False)
        if email:
            auth.request_password_reset(lms, lms.db.session, email)
        return _page("accounts/password_reset.html", email=email, sent=True,
                     message=auth.RESET_REQUESTED)
    return _page("accounts/password_reset.html", email="", sent=False)


@bp.route("/password-reset/confirm", methods=["GET", "POST"])
def password_reset_confirm():
    token = request.values.get("token", "")
    lms = current_platform()
    try:
        auth.check_rate(lms, _ip())
        if request.method == "GET":
            auth.check_signed_token(lms, lms.db.session, token, auth.RESET_PURPOSE)
        else:
            auth.reset_password(lms, lms.db.session, token, request.form.get("password", ""))
    except LmsError as exc:
        lms.db.session.rollback()
        return _page("accounts/password_reset_confirm.html", _form_errors(exc), exc.status,
                     token=token, link_ok="token" not in exc.details.get("fields", {}))
    if request.method == "GET":
        return _page("accounts/password_reset_confirm.html", token=token, link_ok=True)
    sign_out()
    flash("Your password has been changed. Sign in with the new password.", "success")
    return redirect(url_for("accounts.login"))


@bp.route("/verify-email", methods=["GET", "POST"])
def verify_email():
    """A button, not the GET itself, uses the link: mail scanners follow links."""
    token = request.values.get("token", "")
    lms = current_platform()
    try:
        auth.check_rate(lms, _ip())
        if request.method == "GET":
            auth.check_signed_token(lms, lms.db.session, token, auth.VERIFY_PURPOSE)
        else:
            auth.verify_email(lms, lms.db.session, token)
    except LmsError as exc:
        lms.db.session.rollback()
        return _page("accounts/verify_email.html", _form_errors(exc), exc.status, token=token)
    if request.method == "GET":
        return _page("accounts/verify_email.html", token=token)
    flash("Your email address is confirmed.", "success")
    return redirect(url_for("accounts.profile" if web_user() else "accounts.login"))
