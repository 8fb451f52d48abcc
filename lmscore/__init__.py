"""lmscore: a small, plugin-based learning platform.

The public API for plugins: ``hookimpl``, ``current_platform``, the capability interfaces in
``lmscore.capabilities``, ``lmscore.events`` and ``lmscore.db.Base`` for plugin tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .platform import Platform

__version__ = "0.1.0"
__all__ = ["__version__", "create_app", "current_platform", "hookimpl"]


def create_app(*args, **kwargs):
    from .app import create_app as factory

    return factory(*args, **kwargs)


def current_platform() -> Platform:
    """The platform of the current Flask app (inside a request, CLI command or job context)."""
    from flask import current_app

    return current_app.extensions["lmscore"]
