"""Navigation items and template slots: where plugins add to every page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, request
from markupsafe import Markup, escape

from .session_auth import web_user

if TYPE_CHECKING:
    from ..platform import Platform


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    order: int = 100
    #: Roles that see the item; None shows it to everyone (signed in or not).
    roles: frozenset[str] | None = None

    def visible_to(self, role: str | None) -> bool:
        return self.roles is None or role in self.roles


@dataclass(frozen=True)
class ShownNavItem:
    label: str
    url: str
    active: bool


def init_app(app: Flask, lms: Platform, core_items) -> None:
    """``core_items(user)`` returns the core's own items for the signed-in user (or None)."""

    def nav_items() -> list[ShownNavItem]:
        user = web_user()
        items = list(core_items(user))
        items += [item for _id, item in lms.plugins.collect("lms_nav_items", lms=lms, user=user)]
        role = user.role if user else None
        visible = sorted((i for i in items if i.visible_to(role)), key=lambda i: (i.order, i.label))
        path = request.path
        return [
            ShownNavItem(
                i.label, i.url, active=path == i.url or (i.url != "/" and path.startswith(i.url))
            )
            for i in visible
        ]

    def template_slot(slot: str, **context: Any) -> Markup:
        context.setdefault("user", web_user())
        parts = lms.plugins.collect_slot(lms, slot, context)
        return Markup("\n").join(p if isinstance(p, Markup) else escape(p) for p in parts)

    app.jinja_env.globals.update(
        site_name=lms.settings.site_name, nav_items=nav_items, template_slot=template_slot
    )
