"""Themes, template lookup and static files.

Lookup, highest first: instance overrides (``instance/templates``, ``instance/static``) → the
active theme → its parents → plugin folders (each reachable only under ``lms_<id>/``) → core.
Admin pages (``admin/…`` and ``lms_<id>/admin/…``) skip overrides and themes, so branding can
never break or spoof them.

Explicit prefixes reach one level of the chain, so a template can extend the one it replaces:
``core/<name>`` (core only), ``plugins/lms_<id>/<name>`` (the plugin's own), and
``themes/<theme>/<name>`` (that theme, then its parents, plugins and core).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, abort, send_from_directory
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader, PrefixLoader, TemplateNotFound
from marshmallow import RAISE, Schema, ValidationError, fields
from swagger_ui_bundle import swagger_ui_path
from werkzeug.security import safe_join

from ..errors import StartupError

if TYPE_CHECKING:
    from ..platform import Platform

#: Needs no directory: the core templates and stylesheet are the default look.
BUILTIN_THEME = "default"
#: Where the vendored Swagger UI files are served, under /static/ (see OPENAPI_SWAGGER_UI_URL).
SWAGGER_UI_PREFIX = "swagger-ui/"


@dataclass(frozen=True)
class Theme:
    name: str
    #: None for the built-in default when no ``themes/default`` directory exists.
    path: Path | None
    parent: str | None = None
    description: str = ""

    def folder(self, kind: str) -> Path | None:
        """The theme's ``templates`` or ``static`` directory, if it has one."""
        if self.path is None or not (self.path / kind).is_dir():
            return None
        return self.path / kind


class _ThemeFileSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True)
    parent = fields.String(load_default=None)
    description = fields.String(load_default="")


def load_theme(themes_dir: Path, name: str) -> Theme:
    path = themes_dir / name
    manifest = path / "theme.toml"
    if not manifest.is_file():
        if name == BUILTIN_THEME:
            return Theme(BUILTIN_THEME, None)
        known = ", ".join(t.name for t in discover_themes(themes_dir)) or "none"
        raise StartupError(
            f"theme {name!r} not found: no {manifest} (themes in {themes_dir}: {known})"
        )
    try:
        data = _ThemeFileSchema().load(tomllib.loads(manifest.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise StartupError(f"theme {name!r}: invalid {manifest}: {exc}") from exc
    if data["name"] != name:
        raise StartupError(
            f"theme {name!r}: {manifest} says name = {data['name']!r}; it must match its folder"
        )
    return Theme(name, path, data["parent"], data["description"])


def theme_chain(themes_dir: Path, name: str) -> list[Theme]:
    """The theme named ``name`` followed by its ancestors, nearest first."""
    chain: list[Theme] = []
    current: str | None = name
    while current is not None:
        if current in (t.name for t in chain):
            path = " → ".join([*(t.name for t in chain), current])
            raise StartupError(f"theme {name!r}: its parent chain loops ({path})")
        try:
            theme = load_theme(themes_dir, current)
        except StartupError as exc:
            if not chain:
                raise
            raise StartupError(f"theme {name!r}: parent {current!r} is broken: {exc}") from exc
        chain.append(theme)
        current = theme.parent
    return chain


def discover_themes(themes_dir: Path) -> list[Theme]:
    """Every theme folder with a valid ``theme.toml`` (for listings; start-up uses
    ``theme_chain``, which reports what is wrong)."""
    found = []
    if themes_dir.is_dir():
        for manifest in sorted(themes_dir.glob("*/theme.toml")):
            try:
                found.append(load_theme(themes_dir, manifest.parent.name))
            except StartupError:
                continue
    return found


# -- templates --------------------------------------------------------------------------------


def is_admin_template(name: str) -> bool:
    parts = name.split("/")
    in_plugin = len(parts) > 2 and parts[0].startswith("lms_")
    return parts[0] == "admin" or (in_plugin and parts[1] == "admin")


class _WithoutAdmin(BaseLoader):
    """Answers every lookup of ``inner`` except admin pages."""

    def __init__(self, inner: BaseLoader):
        self.inner = inner

    def get_source(self, environment, template):
        if is_admin_template(template):
            raise TemplateNotFound(template)
        return self.inner.get_source(environment, template)

    def list_templates(self) -> list[str]:
        return [t for t in self.inner.list_templates() if not is_admin_template(t)]


def _namespaced(plugin_folders: dict[str, list[Path]]) -> dict[str, list[Path]]:
    """``{"lms_<id>": [<folder>/lms_<id>, …]}``: a plugin's files live in its namespace only."""
    return {
        f"lms_{plugin_id}": [folder / f"lms_{plugin_id}" for folder in folders]
        for plugin_id, folders in plugin_folders.items()
    }


def template_loader(
    overrides: Path, themes: list[Theme], plugin_folders: dict[str, list[Path]], core: Path
) -> BaseLoader:
    plugins = PrefixLoader(
        {ns: FileSystemLoader(dirs) for ns, dirs in _namespaced(plugin_folders).items()}
    )
    core_loader = FileSystemLoader(core)

    def from_theme(index: int) -> ChoiceLoader:
        folders = [t.folder("templates") for t in themes[index:]]
        themed = [_WithoutAdmin(FileSystemLoader(f)) for f in folders if f is not None]
        return ChoiceLoader([*themed, plugins, core_loader])

    explicit = PrefixLoader({
        "core": core_loader,
        "plugins": plugins,
        "themes": PrefixLoader({t.name: from_theme(i) for i, t in enumerate(themes)}),
    })
    return ChoiceLoader([explicit, _WithoutAdmin(FileSystemLoader(overrides)), from_theme(0)])


# -- static files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StaticSource:
    directory: Path
    #: Serves only paths under this prefix, looked up with the prefix removed.
    prefix: str = ""


def static_sources(
    overrides: Path, themes: list[Theme], plugin_folders: dict[str, list[Path]], core: Path
) -> list[StaticSource]:
    themed = [StaticSource(f) for f in (t.folder("static") for t in themes) if f is not None]
    plugins = [
        StaticSource(folder, f"{ns}/")
        for ns, folders in _namespaced(plugin_folders).items()
        for folder in folders
    ]
    return [
        StaticSource(overrides), *themed, *plugins, StaticSource(core),
        StaticSource(Path(str(swagger_ui_path)), SWAGGER_UI_PREFIX),
    ]


def find_static(sources: Iterable[StaticSource], filename: str) -> tuple[Path, str] | None:
    """The first source holding ``filename``, as (directory, path inside it)."""
    for source in sources:
        if not filename.startswith(source.prefix):
            continue
        inner = filename[len(source.prefix):]
        # safe_join refuses "..", absolute paths and drive names: no escaping the directory.
        full = safe_join(str(source.directory), inner)
        if full is not None and os.path.isfile(full):
            return source.directory, inner
    return None


# -- wiring -----------------------------------------------------------------------------------


def _plugin_folders(lms: Platform, hook_name: str) -> dict[str, list[Path]]:
    folders: dict[str, list[Path]] = {}
    for plugin_id, folder in lms.plugins.collect(hook_name, lms=lms):
        path = Path(folder)
        if not (path / f"lms_{plugin_id}").is_dir():
            raise StartupError(
                f"plugin {plugin_id!r}: {hook_name} returned {folder}, which has no "
                f"lms_{plugin_id}/ folder (plugin files are namespaced)"
            )
        folders.setdefault(plugin_id, []).append(path)
    return folders


def init_app(app: Flask, lms: Platform) -> None:
    """Install the template loader and the static view; ``app.extensions["lmscore_themes"]``
    is the active theme chain, nearest first."""
    themes = theme_chain(Path(lms.settings.web.themes_dir).resolve(), lms.settings.web.theme)
    instance = Path(app.instance_path)
    root = Path(app.root_path)
    app.jinja_env.loader = template_loader(
        instance / "templates", themes,
        _plugin_folders(lms, "lms_register_template_folders"), root / "templates",
    )
    sources = static_sources(
        instance / "static", themes,
        _plugin_folders(lms, "lms_register_static_folders"), root / "static",
    )

    def static(filename: str):
        found = find_static(sources, filename)
        if found is None:
            abort(404)
        return send_from_directory(*found)

    app.view_functions["static"] = static
    app.extensions["lmscore_themes"] = themes
