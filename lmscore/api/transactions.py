"""How a view's unit of work talks to the database."""

from __future__ import annotations

from functools import wraps


def read_only(view):
    """The view only reads: it runs without a transaction (``Database.read_only``), which
    saves two round trips per request on PostgreSQL. Place it above ``auth_required`` (or
    ``claims_required``) so that loading the user is covered too."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        from .. import current_platform

        current_platform().db.read_only()
        return view(*args, **kwargs)

    return wrapper
