"""HTML error pages for the web UI (the API answers JSON instead)."""

from __future__ import annotations

import logging

from flask import Response, make_response, render_template
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

from ..errors import LmsError, RetryLater

log = logging.getLogger(__name__)

#: Headers of an HTTP error that a browser acts on.
PASSED_HEADERS = ("Allow", "Retry-After")


def render_error(error: Exception) -> Response:
    if isinstance(error, CSRFError):
        return _page(400, "Form expired",
                     "The form was open too long or came from another site. Please try again.")
    if isinstance(error, LmsError):
        response = _page(error.status, "Sorry", error.message)
        if isinstance(error, RetryLater):
            response.headers["Retry-After"] = str(error.retry_after)
        return response
    if not isinstance(error, HTTPException):
        log.exception("unhandled error in page request")
        error = InternalServerError()
    response = _page(error.code or 500, error.name, error.description or "")
    for key, value in error.get_headers():
        if key in PASSED_HEADERS:
            response.headers[key] = value
    return response


def _page(status: int, title: str, message: str) -> Response:
    try:
        html = render_template("error.html", status=status, title=title, message=message)
    except Exception:
        # The layout needs the database (signed-in user, plugin navigation); when that is what
        # failed, a bare page still tells the visitor what happened.
        log.exception("could not render the error page for %s", status)
        html = (f"<!doctype html><html lang=\"en\"><title>{escape(title)}</title>"
                f"<h1>{escape(title)}</h1><p>{escape(message)}</p></html>")
    return make_response(html, status)
