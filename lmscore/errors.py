"""Domain errors raised by services and mapped to HTTP (API), flash messages (web) or exit
codes (CLI). Nothing here imports Flask."""

from __future__ import annotations

from typing import Any


class LmsError(Exception):
    """Base class: ``status`` is the HTTP status a view answers with, ``code`` a stable,
    machine-readable identifier clients can branch on."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ConfigError(LmsError):
    """Invalid or incomplete configuration: stops start-up."""

    code = "config_error"


class StartupError(LmsError):
    """A plugin or provider problem found while the app is being built."""

    code = "startup_error"


class ValidationFailed(LmsError):
    status = 422
    code = "validation_failed"


class AuthenticationFailed(LmsError):
    status = 401
    code = "unauthorized"


class PermissionDenied(LmsError):
    status = 403
    code = "forbidden"


class NotFound(LmsError):
    status = 404
    code = "not_found"


class Conflict(LmsError):
    status = 409
    code = "conflict"


class PaymentRequired(LmsError):
    status = 402
    code = "payment_required"


class RetryLater(LmsError):
    """The request was fine but cannot be served now: answered with ``Retry-After``."""

    def __init__(self, message: str, *, retry_after: int, details: dict[str, Any] | None = None):
        super().__init__(message, details=details)
        self.retry_after = max(1, int(retry_after))


class TooManyRequests(RetryLater):
    status = 429
    code = "too_many_requests"


class DatabaseBusy(RetryLater):
    """SQLite kept its write lock past the busy timeout (many writers at once on the embedded
    database): nothing was written, and the same request can simply be sent again."""

    status = 503
    code = "busy"
