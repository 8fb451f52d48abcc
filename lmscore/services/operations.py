"""What admins see about the running system: plugins, providers, failed jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select

from ..models import JobFailure, User
from .permissions import Action, require

if TYPE_CHECKING:
    from ..platform import Platform


def plugin_overview(lms: Platform) -> list[dict[str, Any]]:
    """Every installed plugin, enabled or not, with version, hooks and provided names."""
    rows = []
    for plugin in lms.plugins.describe():
        provides: dict[str, list[str]] = {}
        for item in lms.provided.get(plugin.id, []):
            provides.setdefault(item.capability, []).append(item.name)
        rows.append({
            "id": plugin.id,
            "distribution": plugin.distribution,
            "version": plugin.version,
            "enabled": plugin.enabled,
            "hooks": list(plugin.hooks),
            "provides": provides,
            "error": plugin.error,
        })
    return rows


def core_providers(lms: Platform) -> dict[str, list[str]]:
    """Providers the core itself registers (the built-in defaults)."""
    out: dict[str, list[str]] = {}
    for plugin, items in lms.provided.items():
        if plugin.startswith("lmscore."):
            for item in items:
                out.setdefault(item.capability, []).append(item.name)
    return out


def plugins_for(lms: Platform, actor: User) -> list[dict[str, Any]]:
    """``plugin_overview`` for an admin (the CLI's operator is trusted and calls it directly)."""
    require(actor, Action.VIEW_OPERATIONS)
    return plugin_overview(lms)


def job_failures_query(actor: User) -> Select:
    require(actor, Action.VIEW_OPERATIONS)
    return select(JobFailure).order_by(JobFailure.id.desc())
