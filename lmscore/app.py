"""create_app(config=None): settings → plugins → platform (db, jobs) → API → web."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from .config import load_settings
from .platform import Platform


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    config_path: str | None = None,
    extra_plugins: Mapping[str, object] | None = None,
) -> Flask:
    """Build an app. ``config`` overrides file and environment settings (tests use it);
    ``extra_plugins`` registers plugin objects that are not installed (tests only)."""
    settings = load_settings(config_path, overrides=config)
    lms = Platform(settings, extra_plugins)

    # Site-specific files (template and static overrides) live in the instance folder.
    app = Flask("lmscore", instance_path=os.path.abspath(settings.instance_dir))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.web.max_request_mb * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web.behind_tls,
        SESSION_COOKIE_NAME="lms_session",
        PREFERRED_URL_SCHEME="https" if settings.web.behind_tls else "http",
        JSON_SORT_KEYS=False,
    )
    app.extensions["lmscore"] = lms
    if settings.web.trusted_proxies:
        # Client address and scheme from X-Forwarded-* set by that many proxies in front, so
        # per-IP rate limits see real clients. Never trust more hops than really exist.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.web.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.teardown_appcontext(lambda _exc: lms.db.remove())
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("lmscore").setLevel(logging.INFO)

    from . import api, web

    api.init_app(app, lms)
    web.init_app(app, lms)
    return app


def start_in_process_worker(app: Flask) -> None:
    """The embedded default: worker threads inside the serving process (no Redis needed)."""
    lms: Platform = app.extensions["lmscore"]
    if not lms.settings.jobs.uses_redis and lms.settings.jobs.in_process_worker:
        lms.jobs.start_worker()
