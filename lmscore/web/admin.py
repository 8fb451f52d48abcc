"""Admin pages: users, tracks and content sync, plugins, failed jobs, notification deliveries,
themes. Templates under ``admin/`` are never overridden by themes (see web/themes.py)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import Select, func, select

from .. import current_platform
from ..api.pagination import MAX_PAGE, paginate
from ..errors import LmsError
from ..models import JobFailure, Project, Role, Track, User
from ..services import content, notifications, users
from ..services.auth import invalid_field
from ..services.operations import plugin_overview
from ..services.permissions import Action
from .session_auth import web_user
from .themes import discover_themes
from .trainer import requires

bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGE_SIZE = 50


def paged(query: Select) -> dict:
    """The ``?page=`` of ``query`` for a list page: its ``rows``, ``page``, ``pages`` and
    ``total`` (the ``pager`` macro of _macros.html takes them)."""
    page = min(max(1, request.args.get("page", 1, type=int)), MAX_PAGE)
    found = paginate(current_platform().db.session, query, page, PAGE_SIZE)
    return {"rows": found["items"], "page": found["page"], "total": found["total"],
            "pages": max(1, -(-found["total"] // PAGE_SIZE))}


def _choice(name: str, choices) -> str:
    """A filter from the query string; one not among ``choices`` is dropped (""), so a
    hand-edited URL still lists something sensible."""
    value = request.args.get(name, "")
    return value if value in choices else ""


@bp.get("/")
@requires(Action.VIEW_OPERATIONS)
def index():
    return redirect(url_for("admin.users_list"))


# -- users --------------------------------------------------------------------


@bp.get("/users")
@requires(Action.LIST_USERS)
def users_list():
    session = current_platform().db.session
    search = request.args.get("q", "").strip()[:200]
    role = _choice("role", {r.value for r in Role})
    query = users.users_query(web_user(), role=role or None, search=search or None)
    trainers = list(session.scalars(
        select(User).where(User.role == Role.TRAINER).order_by(User.name)
    ))
    return render_template(
        "admin/users.html", trainers=trainers, search=search, role=role,
        roles=[r.value for r in Role], me=web_user(), **paged(query),
    )


def _back_to_users():
    """Back to the list the admin was looking at (its query string came with the form)."""
    return redirect(url_for("admin.users_list", **{
        k: v for k, v in request.form.items() if k in ("q", "role", "page") and v
    }))


def _change_user(user_id: int, change) -> None:
    lms = current_platform()
    actor = web_user()
    try:
        target = users.get_user(lms.db.session, actor, user_id)
        message = change(lms, actor, target)
    except LmsError as exc:
        lms.db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(message, "success")


@bp.post("/users/<int:user_id>/role")
@requires(Action.EDIT_ANY_USER)
def change_role(user_id: int):
    # Not "role": that is the list's filter, which travels with the form (see _back_to_users).
    role = request.form.get("new_role", "")

    def change(lms, actor, target):
        if role not in {r.value for r in Role}:
            raise invalid_field("role", f"Unknown role {role!r}.")
        users.update_user(lms.db.session, actor=actor, target=target, changes={"role": role})
        return f"{target.name} is now {role}."

    _change_user(user_id, change)
    return _back_to_users()


@bp.post("/users/<int:user_id>/trainer")
@requires(Action.ASSIGN_TRAINER)
def assign_trainer(user_id: int):
    trainer_id = request.form.get("trainer_id", type=int)

    def change(lms, actor, target):
        users.assign_trainer(lms, lms.db.session, actor, target, trainer_id)
        return (f"{target.name}'s trainer is now {target.trainer.name}." if target.trainer
                else f"{target.name} has no trainer now.")

    _change_user(user_id, change)
    return _back_to_users()


@bp.post("/users/<int:user_id>/lock")
@requires(Action.EDIT_ANY_USER)
def lock(user_id: int):
    locked = request.form.get("locked") == "1"

    def change(lms, actor, target):
        users.update_user(lms.db.session, actor=actor, target=target, changes={"locked": locked})
        return f"{target.name} is {'locked' if locked else 'unlocked'}."

    _change_user(user_id, change)
    return _back_to_users()


# -- tracks and content sync --------------------------------------------------------------------


def _tracks_page(report=None):
    session = current_platform().db.session
    counts = dict(session.execute(
        select(Project.track_id, func.count()).where(Project.archived_at.is_(None))
        .group_by(Project.track_id)
    ).all())
    tracks = list(session.scalars(select(Track).order_by(Track.archived_at.is_not(None),
                                                         Track.code)))
    return render_template("admin/tracks.html", tracks=tracks, counts=counts, report=report,
                           sources=[s.name for s in current_platform().content_sources])


@bp.get("/tracks")
@requires(Action.EDIT_TRACKS)
def tracks():
    return _tracks_page()


@bp.post("/tracks/sync")
@requires(Action.EDIT_TRACKS)
def sync():
    lms = current_platform()
    source = request.form.get("source") or None
    try:
        report = content.sync(lms, lms.db.session, source)
    except LmsError as exc:
        lms.db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("admin.tracks"))
    return _tracks_page(report)


# -- plugins, jobs, themes --------------------------------------------------------------------


def _config_status(lms, plugin: dict) -> str:
    """Start-up refuses invalid settings of an enabled plugin, so a running one is valid."""
    has_table = plugin["id"] in lms.settings.plugin_tables
    if plugin["error"]:
        return "cannot be checked: the plugin does not import"
    if not plugin["enabled"]:
        return "not checked (disabled)" if has_table else "—"
    if lms.plugins.config_schema(plugin["id"]) is None:
        return "takes no settings"
    return "valid" if has_table else "valid (defaults)"


@bp.get("/plugins")
@requires(Action.VIEW_OPERATIONS)
def plugins():
    lms = current_platform()
    rows = plugin_overview(lms)
    return render_template("admin/plugins.html", plugins=rows,
                           config={p["id"]: _config_status(lms, p) for p in rows})


@bp.get("/jobs")
@requires(Action.VIEW_OPERATIONS)
def jobs():
    session = current_platform().db.session
    failures = list(session.scalars(
        select(JobFailure).order_by(JobFailure.id.desc()).limit(PAGE_SIZE)
    ))
    return render_template("admin/jobs.html", failures=failures)


@bp.get("/notifications")
@requires(Action.VIEW_OPERATIONS)
def notification_deliveries():
    lms = current_platform()
    channels = lms.notification_channels.names()
    kinds = notifications.delivery_kinds(lms)
    shown = {"status": _choice("status", notifications.DELIVERY_STATUSES),
             "channel": _choice("channel", channels), "kind": _choice("kind", kinds)}
    query = notifications.deliveries_query(
        web_user(), **{name: value or None for name, value in shown.items()})
    return render_template(
        "admin/notifications.html", shown=shown, statuses=notifications.DELIVERY_STATUSES,
        channels=channels, kinds=kinds, **paged(query),
    )


@bp.get("/themes")
@requires(Action.VIEW_OPERATIONS)
def themes():
    lms = current_platform()
    chain = current_app.extensions["lmscore_themes"]
    available = discover_themes(Path(lms.settings.web.themes_dir).resolve())
    return render_template("admin/themes.html", chain=chain, available=available,
                           active=chain[0].name)
