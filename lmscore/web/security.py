"""Security headers on every response."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from flask import Flask, request

from ..errors import StartupError
from ..services import workspaces

if TYPE_CHECKING:
    from ..platform import Platform

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]+)?")


def site_policy(lms: Platform) -> str:
    """The core policy, its ``form-action`` widened to the origins plugins send forms to and
    to the workspace origin (the "Open" form is redirected there, and browsers check
    ``form-action`` on redirects too)."""
    origins = {workspaces.workspace_origin(lms)} if workspaces.separate_origin(lms) else set()
    for plugin, origin in lms.plugins.collect("lms_form_action_origins", lms=lms):
        if not isinstance(origin, str) or not ORIGIN.fullmatch(origin):
            raise StartupError(f"plugin {plugin!r}: lms_form_action_origins returned "
                               f"{origin!r}, not an origin such as https://example.org")
        origins.add(origin)
    return CSP.replace("form-action 'self'", " ".join(["form-action 'self'", *sorted(origins)]))


def init_app(app: Flask, lms: Platform) -> None:
    behind_tls = lms.settings.web.behind_tls
    policy = site_policy(lms)

    @app.after_request
    def headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", policy)
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if behind_tls or request.is_secure:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
