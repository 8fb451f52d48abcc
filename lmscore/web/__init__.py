"""Server-rendered pages (Jinja2). Views are thin: they call services and render."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, g, request
from flask_wtf.csrf import CSRFProtect

from .. import current_platform
from ..errors import ValidationFailed
from ..models import Role
from ..services import notifications as notifications_service
from ..services import workspaces as workspaces_service
from . import navigation, security, session_auth, themes
from .navigation import NavItem

if TYPE_CHECKING:
    from ..platform import Platform

csrf = CSRFProtect()


def init_app(app: Flask, lms: Platform) -> None:
    from ..api import is_api_request

    # Checked by hand below for every non-API request, whichever blueprint serves it. The API
    # authenticates with bearer tokens, never cookies, so CSRF does not apply there.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # valid for the session's lifetime
    csrf.init_app(app)

    @app.before_request
    def check_csrf():
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE") and not is_api_request():
            csrf.protect()

    # PostgreSQL can neither store nor compare text holding NUL, and nobody types one into a
    # form: refused here once for every page, not field by field (the API's schemas name it).
    @app.before_request
    def refuse_nul_characters():
        if is_api_request():
            return
        for name, value in (*request.args.items(multi=True), *request.form.items(multi=True)):
            if "\x00" in value:
                raise ValidationFailed(f"The field {name!r} contains a NUL character.")

    # Before any request hook reads: page views read side by side on SQLite.
    @app.before_request
    def page_views_read_mostly():
        if request.method in ("GET", "HEAD") and not is_api_request():
            g.lms_read_mostly = True
            lms.db.read_mostly()

    themes.init_app(app, lms)
    # Notification emails render in jobs, outside requests, through the same theme chain.
    notifications_service.use_template_loader(lms, app.jinja_env.loader)
    security.init_app(app, lms)
    session_auth.init_app(app, lms)
    navigation.init_app(app, lms, core_nav_items)

    from . import (
        accounts,
        admin,
        learner,
        notifications,
        pages,
        payments,
        quizzes,
        trainer,
        workspaces,
    )

    app.register_blueprint(pages.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(notifications.bp)
    for blueprint in (learner.bp, quizzes.bp, trainer.bp, admin.bp, payments.bp,
                      workspaces.bp):
        app.register_blueprint(blueprint)
    for _plugin, blueprint in lms.plugins.collect("lms_register_web_blueprints", lms=lms):
        app.register_blueprint(blueprint)
    workspaces_service.warn_if_shared_origin(lms)


def read_again() -> bool:
    """Whether a page view that failed with "database is locked" runs once more: one that
    began ``read_mostly`` and wrote after another write had committed (SQLite cannot move its
    snapshot forward). GET and HEAD may do their work twice; the second time the unit begins
    ``IMMEDIATE``, holding the write lock from its start, and waits its turn like any form."""
    if not g.get("lms_read_mostly") or g.get("lms_read_again"):
        return False
    g.lms_read_again = True
    return True


ADMIN_ROLES = frozenset({Role.ADMIN.value, Role.SUPERADMIN.value})
STAFF_ROLES = ADMIN_ROLES | {Role.TRAINER.value}


def core_nav_items(user) -> list[NavItem]:
    from flask import url_for

    items = [NavItem("Home", url_for("pages.home"), order=0),
             NavItem("Tracks", url_for("learner.catalogue"), order=10)]
    if user is not None:
        items.append(NavItem("Profile", url_for("accounts.profile"), order=90))
        items.append(NavItem("Payments", url_for("payments_pages.receipts"), order=85))
        items.append(NavItem("Dashboard", url_for("learner.dashboard"), order=5))
        items.append(NavItem("Quizzes", url_for("quiz_pages.index"), order=20))
        if workspaces_service.any_engine(current_platform()):
            items.append(NavItem("Workspaces", url_for("workspace_pages.mine"), order=25))
    items += [
        NavItem("Review queue", url_for("trainer.queue"), order=40, roles=STAFF_ROLES),
        NavItem("Quiz builder", url_for("quiz_pages.builder"), order=42, roles=STAFF_ROLES),
        NavItem("Learners", url_for("trainer.learners"), order=45,
                roles=frozenset({Role.TRAINER.value})),
        NavItem("Admin", url_for("admin.users_list"), order=80, roles=ADMIN_ROLES),
    ]
    return items
