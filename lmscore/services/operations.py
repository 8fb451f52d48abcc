"""What admins see about the running system: plugins, providers, failed jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
