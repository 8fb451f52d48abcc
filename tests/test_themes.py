"""Themes: lookup chain, block overrides, admin protection, static fallback, start-up errors,
and the shipped themes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Blueprint, render_template

from lmscore import hookimpl
from lmscore.errors import StartupError

REPO = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def theme(root: Path, name: str, parent: str | None = None) -> Path:
    write(root / name / "theme.toml",
          f'name = "{name}"\n' + (f'parent = "{parent}"\n' if parent else ""))
    return root / name


@pytest.fixture
def themes_dir(tmp_path: Path) -> Path:
    """``child`` → ``parent`` → built-in default."""
    root = tmp_path / "themes"
    parent = theme(root, "parent")
    write(parent / "templates/base.html",
          '{% extends "core/base.html" %}{% block footer %}<p>Parent footer</p>{% endblock %}')
    write(parent / "static/lmscore.css", "/* parent css */")
    write(parent / "static/parent.css", "/* only in parent */")
    child = theme(root, "child", parent="parent")
    write(child / "templates/base.html",
          '{% extends "themes/parent/base.html" %}'
          '{% block brand %}<span class="brand">Child brand</span>{% endblock %}')
    write(child / "templates/home.html",
          '{% extends "core/home.html" %}{% block hero %}<h1>Child hero</h1>{% endblock %}')
    write(child / "static/lmscore.css", "/* child css */")
    return root


def themed_app(app_factory, themes_dir: Path, name: str = "child", **kwargs):
    return app_factory(config={"web": {"theme": name, "themes_dir": str(themes_dir)}}, **kwargs)


def test_theme_replaces_blocks_and_inherits_from_its_parent(app_factory, themes_dir):
    web = themed_app(app_factory, themes_dir).test_client()
    html = web.get("/").get_data(as_text=True)
    assert "<h1>Child hero</h1>" in html  # child's home.html replaced one block…
    assert "How it works" in html  # …and kept the rest of core's home page
    assert "Child brand" in html  # child's base.html …
    assert "Parent footer" in html  # … extends the parent's, which extends core's
    assert 'href="#main"' in html
    # Pages the theme does not touch still get its layout.
    assert "Parent footer" in web.get("/login").get_data(as_text=True)


def test_parent_theme_alone(app_factory, themes_dir):
    web = themed_app(app_factory, themes_dir, "parent").test_client()
    html = web.get("/").get_data(as_text=True)
    assert "Parent footer" in html
    assert "Child" not in html


def test_static_files_fall_back_along_the_chain(app_factory, themes_dir):
    web = themed_app(app_factory, themes_dir).test_client()
    assert web.get("/static/lmscore.css").get_data(as_text=True) == "/* child css */"
    assert web.get("/static/parent.css").get_data(as_text=True) == "/* only in parent */"
    core = (REPO / "lmscore/static/api-docs.js").read_text(encoding="utf-8")
    assert web.get("/static/api-docs.js").get_data(as_text=True) == core
    assert web.get("/static/missing.css").status_code == 404


@pytest.mark.parametrize("path", [
    "/static/../app.py",
    "/static/%2e%2e/app.py",
    "/static/..%2fapp.py",
    "/static/%2fetc%2fpasswd",
    "/static//etc/passwd",
    "/static/swagger-ui/../../../../etc/passwd",
])
def test_static_paths_cannot_escape(web, path):
    assert web.get(path, follow_redirects=True).status_code == 404


def test_instance_overrides_come_first(app_factory, themes_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the instance folder is ./instance
    write(tmp_path / "instance/templates/error.html",
          '{% extends "themes/child/error.html" %}'
          '{% block content %}<p>Instance 404</p>{% endblock %}')
    write(tmp_path / "instance/static/lmscore.css", "/* instance css */")
    web = themed_app(app_factory, themes_dir).test_client()
    html = web.get("/no-such-page").get_data(as_text=True)
    assert "<p>Instance 404</p>" in html and "Parent footer" in html
    assert web.get("/static/lmscore.css").get_data(as_text=True) == "/* instance css */"


def test_admin_templates_cannot_be_overridden(app_factory, themes_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "plugin/lms_demo/admin/panel.html", "plugin admin panel")
    write(tmp_path / "plugin/lms_demo/public.html", "plugin public page")
    for root in (themes_dir / "child/templates", tmp_path / "instance/templates"):
        write(root / "lms_demo/admin/panel.html", "overridden admin panel")
        write(root / "lms_demo/public.html", "overridden public page")
        write(root / "admin/users.html", "a theme's admin page")

    class Plugin:
        @hookimpl
        def lms_register_template_folders(self, lms):
            return [str(tmp_path / "plugin")]

        @hookimpl
        def lms_register_web_blueprints(self, lms):
            bp = Blueprint("demo", __name__)
            bp.add_url_rule("/demo/<path:name>", "show", lambda name: render_template(name))
            return [bp]

    web = themed_app(app_factory, themes_dir, plugins={"demo": Plugin()}).test_client()
    assert web.get("/demo/lms_demo/admin/panel.html").get_data(as_text=True) == "plugin admin panel"
    assert web.get("/demo/lms_demo/public.html").get_data(as_text=True) == "overridden public page"
    # An admin page that only a theme or override provides does not exist.
    assert web.get("/demo/admin/users.html").status_code == 500


def test_unknown_theme_is_a_startup_error(app_factory, themes_dir):
    with pytest.raises(StartupError, match=r"theme 'nope' not found.*child, parent"):
        themed_app(app_factory, themes_dir, "nope")


def test_broken_parent_is_a_startup_error(app_factory, themes_dir):
    theme(themes_dir, "orphan", parent="gone")
    with pytest.raises(StartupError, match=r"theme 'orphan': parent 'gone' is broken"):
        themed_app(app_factory, themes_dir, "orphan")


def test_parent_cycle_is_a_startup_error(app_factory, themes_dir):
    theme(themes_dir, "a", parent="b")
    theme(themes_dir, "b", parent="a")
    with pytest.raises(StartupError, match=r"theme 'a': its parent chain loops \(a → b → a\)"):
        themed_app(app_factory, themes_dir, "a")


@pytest.mark.parametrize("manifest, message", [
    ('name = "other"\n', "must match its folder"),
    ('name = "odd"\ncolour = "red"\n', "colour"),
    ("name = \n", "invalid"),
])
def test_invalid_theme_file_is_a_startup_error(app_factory, themes_dir, manifest, message):
    write(themes_dir / "odd/theme.toml", manifest)
    with pytest.raises(StartupError, match=rf"theme 'odd'.*{message}"):
        themed_app(app_factory, themes_dir, "odd")


def test_default_theme_needs_no_folder(app_factory, tmp_path):
    app = app_factory(config={"web": {"theme": "default", "themes_dir": str(tmp_path / "none")}})
    assert [t.name for t in app.extensions["lmscore_themes"]] == ["default"]
    assert "How it works" in app.test_client().get("/").get_data(as_text=True)


# -- the shipped themes ------------------------------------------------------------------------


def test_shipped_default_theme_is_the_core_look(app_factory):
    app = app_factory(config={"web": {"theme": "default", "themes_dir": str(REPO / "themes")}})
    assert [t.path for t in app.extensions["lmscore_themes"]] == [REPO / "themes/default"]
    html = app.test_client().get("/").get_data(as_text=True)
    assert "/static/lmscore.css" in html and "campus.css" not in html


def test_shipped_campus_theme(app_factory):
    app = app_factory(config={"web": {"theme": "campus", "themes_dir": str(REPO / "themes")}})
    assert [t.name for t in app.extensions["lmscore_themes"]] == ["campus", "default"]
    web = app.test_client()
    html = web.get("/").get_data(as_text=True)
    assert html.index("/static/lmscore.css") < html.index("/static/campus.css")
    assert '<span class="brand-tag">Campus</span>' in html
    assert "high-contrast theme" in html
    assert "How it works" in html
    assert web.get("/static/campus.css").status_code == 200


def _palette(css: str) -> dict[str, str]:
    root = re.search(r":root\s*{(.*?)}", css, re.S).group(1)
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", root))


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


#: (text, background, minimum): WCAG AA for text, 3:1 for focus rings and field borders.
PAIRS = [
    ("fg", "bg", 4.5), ("fg", "panel", 4.5), ("muted", "bg", 4.5), ("muted", "panel", 4.5),
    ("accent", "bg", 4.5), ("accent", "panel", 4.5), ("accent-fg", "accent", 4.5),
    ("secondary-fg", "secondary-bg", 4.5), ("focus", "bg", 3.0), ("focus", "panel", 3.0),
    ("info-fg", "info-bg", 4.5), ("error", "error-bg", 4.5), ("error", "panel", 4.5),
    ("ok", "ok-bg", 4.5), ("field-border", "panel", 3.0),
]


@pytest.mark.parametrize("stylesheets", [
    ["lmscore/static/lmscore.css"],
    ["lmscore/static/lmscore.css", "themes/campus/static/campus.css"],
], ids=["core", "campus"])
def test_palettes_meet_wcag_aa(stylesheets):
    palette: dict[str, str] = {}
    for sheet in stylesheets:
        palette.update(_palette((REPO / sheet).read_text(encoding="utf-8")))
    low = [
        f"{fg} on {bg}: {contrast(palette[fg], palette[bg]):.2f}"
        for fg, bg, minimum in PAIRS
        if contrast(palette[fg], palette[bg]) < minimum
    ]
    assert not low
