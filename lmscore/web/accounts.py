"""Sign-up, sign-in, sign-out and the profile page."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for

from .. import current_platform
from ..errors import LmsError, TooManyRequests
from ..services import auth, users
from .session_auth import login_required, sign_in, sign_out, web_user

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: never an open redirect."""
    if not target:
        return url_for("pages.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.home")
    return target


@bp.route("/register", methods=["GET", "POST"])
def register():
    if web_user() is not None:
        return redirect(url_for("pages.home"))
    form = {"name": "", "email": ""}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = {k: request.form.get(k, "").strip() for k in ("name", "email")}
        password = request.form.get("password", "")
        lms = current_platform()
        try:
            users.check_registration(form["email"], form["name"])
            user = auth.register(lms, lms.db.session, email=form["email"], password=password,
                                 name=form["name"])
        except LmsError as exc:
            lms.db.session.rollback()
            errors = exc.details.get("fields", {"_form": [exc.message]})
        else:
            sign_in(user)
            flash("Welcome! We sent you an email to confirm your address.", "success")
            return redirect(url_for("pages.home"))
    return render_template("accounts/register.html", form=form, errors=errors), (
        422 if errors else 200
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = _safe_next(request.values.get("next"))
    error = ""
    status = 200
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        lms = current_platform()
        try:
            users.check_login_rate(lms, email, request.remote_addr or "")
            user = auth.check_credentials(lms, lms.db.session, email, request.form.get("password", ""))
        except TooManyRequests as exc:
            error, status = exc.message, 429
        except LmsError as exc:
            error, status = exc.message, exc.status
        else:
            sign_in(user)
            return redirect(next_url)
    return render_template("accounts/login.html", error=error, email=email, next=next_url), status


@bp.post("/logout")
def logout():
    sign_out()
    flash("You are signed out.", "info")
    return redirect(url_for("pages.home"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    user = web_user()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        lms = current_platform()
        try:
            users.update_user(lms, lms.db.session, actor=user, target=user, changes={
                "name": request.form.get("name", ""),
                "timezone": request.form.get("timezone", ""),
            })
        except LmsError as exc:
            lms.db.session.rollback()
            errors = exc.details.get("fields", {"_form": [exc.message]})
        else:
            flash("Profile saved.", "success")
            return redirect(url_for("accounts.profile"))
    return render_template("accounts/profile.html", user=user, errors=errors), (
        422 if errors else 200
    )
