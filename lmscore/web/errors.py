"""HTML error pages for the web UI (the API answers JSON instead)."""

from __future__ import annotations

import logging

from flask import render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from ..errors import LmsError

log = logging.getLogger(__name__)


def render_error(error: Exception):
    if isinstance(error, CSRFError):
        return render_template(
            "error.html", status=400, title="Form expired",
            message="The form was open too long or came from another site. Please try again.",
        ), 400
    if isinstance(error, LmsError):
        return render_template("error.html", status=error.status, title="Sorry",
                               message=error.message), error.status
    if not isinstance(error, HTTPException):
        log.exception("unhandled error in page request")
        error = InternalServerError()
    status = error.code or 500
    return render_template("error.html", status=status, title=error.name,
                           message=error.description), status
