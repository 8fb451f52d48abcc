"""Bearer-token authentication for API views. Authorisation (who may do what) lives in the
services, so the API, the web UI and the CLI enforce the same rules."""

from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING

from flask import g, request

from ..errors import AuthenticationFailed
from ..models import User

if TYPE_CHECKING:
    from ..services.auth import SignedIn


def current_user() -> User:
    user = g.get("lms_api_user")
    if user is None:
        raise AuthenticationFailed("Authentication required.")
    return user


def _bearer_claims():
    from .. import current_platform
    from ..services import auth

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("Authentication required: send a Bearer access token.")
    return auth.access_claims(current_platform(), token.strip())


def auth_required(view):
    """Require ``Authorization: Bearer <access token>``; the user is then ``current_user()``."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        from .. import current_platform
        from ..services import auth

        claims = _bearer_claims()
        session = current_platform().db.session
        g.lms_api_user = auth.token_user(claims, session.get(User, claims.user_id))
        return view(*args, **kwargs)

    return wrapper


def claims_required(view):
    """``auth_required`` for the hottest reads, which load the signed-in user in the same
    statement as their own data (one round trip fewer), as plain values rather than an ORM
    object: the view receives the token's ``claims`` and hands the user it loaded to
    ``accept_user`` before anything else. ``current_user()`` stays unset in such views."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        return view(*args, claims=_bearer_claims(), **kwargs)

    return wrapper


def accept_user(claims, user: SignedIn | None) -> SignedIn:
    """The user a ``claims_required`` view loaded for ``claims``, checked as ``auth_required``
    checks the user it loads (the token's session must still be theirs)."""
    from ..services import auth

    return auth.token_user(claims, user)
