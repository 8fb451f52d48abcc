"""Bearer-token authentication for API views. Authorisation (who may do what) lives in the
services, so the API, the web UI and the CLI enforce the same rules."""

from __future__ import annotations

from functools import wraps

from flask import g, request

from ..errors import AuthenticationFailed
from ..models import User


def current_user() -> User:
    user = g.get("lms_api_user")
    if user is None:
        raise AuthenticationFailed("Authentication required.")
    return user


def auth_required(view):
    """Require ``Authorization: Bearer <access token>``; the user is then ``current_user()``."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        from .. import current_platform
        from ..services import auth

        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("Authentication required: send a Bearer access token.")
        lms = current_platform()
        g.lms_api_user = auth.user_from_access_token(lms, lms.db.session, token.strip())
        return view(*args, **kwargs)

    return wrapper
