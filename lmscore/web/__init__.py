"""Server-rendered pages (Jinja2). Views are thin: they call services and render."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

from ..models import Role
from . import navigation, security, session_auth
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

    security.init_app(app, lms)
    session_auth.init_app(app, lms)
    navigation.init_app(app, lms, core_nav_items)

    from . import accounts, pages

    app.register_blueprint(pages.bp)
    app.register_blueprint(accounts.bp)
    for _plugin, blueprint in lms.plugins.collect("lms_register_web_blueprints", lms=lms):
        app.register_blueprint(blueprint)


ADMIN_ROLES = frozenset({Role.ADMIN.value, Role.SUPERADMIN.value})


def core_nav_items(user) -> list[NavItem]:
    from flask import url_for

    items = [NavItem("Home", url_for("pages.home"), order=0)]
    if user is not None:
        items.append(NavItem("Profile", url_for("accounts.profile"), order=90))
    return items
