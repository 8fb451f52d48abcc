"""One error shape for the whole API:
``{"error": {"code": "...", "message": "...", "details": {...}}}``."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from flask import jsonify
from werkzeug.exceptions import HTTPException

from ..errors import LmsError, RetryLater

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class _ErrorSchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "machine-readable, stable"})
    message = ma.fields.String(required=True)
    details = ma.fields.Dict(required=True, metadata={
        "description": "e.g. {\"fields\": {name: [problems]}} for invalid input"})


class ErrorEnvelopeSchema(ma.Schema):
    """What every API error answers with (the OpenAPI document's ``Error`` component)."""

    error = ma.fields.Nested(_ErrorSchema, required=True)


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None):
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _validation_details(messages: Any) -> dict[str, Any]:
    """webargs nests messages by location (json, query, files…); clients want fields."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    merged: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            merged.update(fields)
        else:
            merged[location] = fields
    return merged


def from_http_exception(error: HTTPException):
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    headers = dict(getattr(error, "headers", None) or {})
    # werkzeug keeps a 405's Allow header in get_headers(), not in .headers.
    headers.update((k, v) for k, v in error.get_headers() if k == "Allow")
    if status == 400 and messages and "Invalid JSON body." in str(messages):
        return error_response(400, "invalid_json", "The request body is not valid JSON.")
    if messages is not None:
        details = _validation_details(messages)
        fields = ", ".join(sorted(details))
        return error_response(
            status, CODES.get(status, "error"),
            f"Invalid input: {fields}." if fields else "Invalid input.", {"fields": details},
            headers,
        )
    message = data.get("message") or error.description or HTTPStatus(status).phrase
    if status == 413:
        message = "The request body is too large."
    if status == 429 and "Retry-After" not in headers:
        headers["Retry-After"] = "60"
    passthrough = {k: v for k, v in headers.items() if k in ("Retry-After", "Allow")}
    return error_response(status, CODES.get(status, "error"), message, None, passthrough)


def from_lms_error(error: LmsError):
    headers = {}
    if isinstance(error, RetryLater):
        headers["Retry-After"] = str(error.retry_after)
    return error_response(error.status, error.code, error.message, error.details, headers)


def from_unexpected(error: Exception):
    log.exception("unhandled error in API request")
    return error_response(500, "internal_error", "Something went wrong on our side.")
