"""The REST API under /api/v1 (flask-smorest, marshmallow, OpenAPI 3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from ..db import MAX_ID, as_busy
from ..errors import DatabaseBusy, LmsError
from . import errors
from .auth import auth_required, current_user
from .resources.schemas import Integer, Text

if TYPE_CHECKING:
    from ..platform import Platform

__all__ = ["API_PREFIX", "Integer", "Text", "auth_required", "current_user", "init_app"]

API_PREFIX = "/api/v1"


class LmsApi(Api):
    # Documents the envelope every error really has (errors.py), not flask-smorest's own.
    ERROR_SCHEMA = errors.ErrorEnvelopeSchema

    def _register_error_handlers(self):
        """Errors are handled app-wide by ``handle_error`` below: API paths get JSON,
        pages HTML."""


class DatabaseIdConverter(IntegerConverter):
    """``<int:…>`` in every URL: only what a database id column can hold, so a huge number in
    a path is a 404, not an overflow in the database driver (500)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's parameter name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX + "/") or request.path.startswith("/health/")


def init_app(app: Flask, lms: Platform) -> None:
    # Before any route is added: the web pages' rules use it too.
    app.url_map.converters["int"] = DatabaseIdConverter
    app.config.update(
        API_TITLE=f"{lms.settings.site_name} API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/static/swagger-ui/",
        API_SPEC_OPTIONS={
            "security": [{"bearerAuth": []}],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
        },
    )
    api = LmsApi(app)
    app.extensions["lmscore_api"] = api

    from . import health
    from .resources import core_blueprints

    app.register_blueprint(health.bp)
    for blueprint in core_blueprints():
        api.register_blueprint(blueprint)
    for _plugin, blueprint in lms.plugins.collect("lms_register_api_blueprints", lms=lms):
        api.register_blueprint(blueprint)

    app.register_error_handler(HTTPException, handle_error)
    app.register_error_handler(LmsError, handle_error)
    app.register_error_handler(Exception, handle_error)


def handle_error(error: Exception):
    # Nothing of a failed request is kept, and the error page may query (e.g. the signed-in
    # user) on a clean session.
    from .. import current_platform

    current_platform().db.session.rollback()
    error = as_busy(error) or error
    if not is_api_request():
        from ..web import read_again
        from ..web.errors import render_error

        if isinstance(error, DatabaseBusy) and read_again():
            try:
                return current_app.make_response(current_app.dispatch_request())
            except Exception as again:  # handled as the first failure would have been
                return handle_error(again)
        return render_error(error)
    if isinstance(error, LmsError):
        return errors.from_lms_error(error)
    if isinstance(error, HTTPException):
        return errors.from_http_exception(error)
    return errors.from_unexpected(error)
