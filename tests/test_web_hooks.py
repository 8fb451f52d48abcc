"""The web lifecycle hooks, each through a throwaway plugin and the page it changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Blueprint, render_template
from markupsafe import Markup

from lmscore import hookimpl
from lmscore.errors import StartupError
from lmscore.testing.plugin import DEFAULT_PASSWORD
from lmscore.web.navigation import NavItem


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


class PagePlugin:
    """Plugin ``demo``: one page, rendered from its own template folder."""

    def __init__(self, templates: Path):
        self.templates = templates

    @hookimpl
    def lms_register_web_blueprints(self, lms):
        bp = Blueprint("demo", __name__, url_prefix="/demo")
        bp.add_url_rule("/", "index", lambda: render_template("lms_demo/index.html"))
        return [bp]

    @hookimpl
    def lms_register_template_folders(self, lms):
        return [str(self.templates)]


def test_hook_lms_register_web_blueprints(app_factory, tmp_path):
    write(tmp_path / "templates/lms_demo/index.html",
          '{% extends "base.html" %}{% block content %}<h1>Demo page</h1>{% endblock %}')
    web = app_factory(plugins={"demo": PagePlugin(tmp_path / "templates")}).test_client()

    page = web.get("/demo/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Demo page</h1>" in html
    assert 'class="site-header"' in html  # inside the site's layout
    assert "Content-Security-Policy" in page.headers


def test_hook_lms_register_template_folders(app_factory, tmp_path):
    write(tmp_path / "templates/lms_demo/index.html",
          '{% extends "base.html" %}{% block content %}'
          '<h1>{% block heading %}Plugin heading{% endblock %}</h1><p>Plugin body</p>'
          '{% endblock %}')
    # Files outside the plugin's namespace are never reachable, so a plugin cannot replace core
    # templates.
    write(tmp_path / "templates/home.html", "hijacked")
    plugin = PagePlugin(tmp_path / "templates")

    plain = app_factory(plugins={"demo": plugin}).test_client()
    assert "Plugin heading" in plain.get("/demo/").get_data(as_text=True)
    assert "hijacked" not in plain.get("/").get_data(as_text=True)

    write(tmp_path / "themes/brand/theme.toml", 'name = "brand"\n')
    write(tmp_path / "themes/brand/templates/lms_demo/index.html",
          '{% extends "plugins/lms_demo/index.html" %}'
          '{% block heading %}Theme heading{% endblock %}')
    themed = app_factory(
        config={"web": {"theme": "brand", "themes_dir": str(tmp_path / "themes")}},
        plugins={"demo": plugin},
    ).test_client()
    html = themed.get("/demo/").get_data(as_text=True)
    assert "<h1>Theme heading</h1>" in html
    assert "<p>Plugin body</p>" in html


def test_plugin_template_folder_must_hold_its_namespace(app_factory, tmp_path):
    write(tmp_path / "templates/index.html", "not namespaced")
    with pytest.raises(StartupError, match=r"plugin 'demo'.*no lms_demo/ folder"):
        app_factory(plugins={"demo": PagePlugin(tmp_path / "templates")})


def test_hook_lms_register_static_folders(app_factory, tmp_path):
    write(tmp_path / "static/lms_demo/demo.js", "console.log('demo');\n")
    write(tmp_path / "static/stray.js", "outside the namespace\n")

    class StaticPlugin:
        @hookimpl
        def lms_register_static_folders(self, lms):
            return [str(tmp_path / "static")]

    app = app_factory(plugins={"demo": StaticPlugin()})
    web = app.test_client()
    served = web.get("/static/lms_demo/demo.js")
    assert served.status_code == 200
    assert served.get_data(as_text=True) == "console.log('demo');\n"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert web.get("/static/stray.js").status_code == 404
    assert web.get("/static/lms_demo/../stray.js").status_code == 404
    with app.test_request_context():
        from flask import url_for

        assert url_for("static", filename="lms_demo/demo.js") == "/static/lms_demo/demo.js"


class FormTargets:
    def __init__(self, *origins):
        self.origins = list(origins)

    @hookimpl
    def lms_form_action_origins(self, lms):
        return self.origins


def test_hook_lms_form_action_origins(app_factory):
    # Browsers block a form whose redirect leaves for an origin form-action does not list.
    web = app_factory(plugins={"demo": FormTargets("https://pay.example:8443")}).test_client()
    policy = web.get("/").headers["Content-Security-Policy"]
    assert "form-action 'self' https://pay.example:8443;" in policy
    assert "script-src 'self';" in policy  # nothing else widened


@pytest.mark.parametrize("origin", ["https://pay.example; script-src *", "pay.example",
                                    "https://pay.example/checkout"])
def test_form_action_origins_must_be_origins(app_factory, origin):
    with pytest.raises(StartupError, match=r"plugin 'demo': lms_form_action_origins returned"):
        app_factory(plugins={"demo": FormTargets(origin)})


class NavPlugin:
    @hookimpl
    def lms_nav_items(self, lms, user):
        return [
            NavItem("Catalogue", "/catalogue", order=10),
            NavItem("Review queue", "/review-queue", order=20, roles=frozenset({"trainer"})),
        ]


class PlainSlot:
    @hookimpl
    def lms_template_slot(self, lms, slot, context):
        if slot == "home_sections":
            return "<b>plain text</b>"
        return None


class MarkupSlot:
    @hookimpl
    def lms_template_slot(self, lms, slot, context):
        if slot == "home_sections":
            user = context["user"]
            return Markup('<section class="from-plugin">{}</section>').format(
                user.name if user else "guest"
            )
        return None


@pytest.fixture
def app(app_factory, request):
    """The app with the throwaway plugins given by indirect parametrisation, so ``make_user``
    and ``web`` work on it."""
    return app_factory(plugins=request.param)


def main_nav(web) -> str:
    html = web.get("/").get_data(as_text=True)
    return html.split('<nav aria-label="Main">')[1].split("</nav>")[0]


@pytest.mark.parametrize("app", [{"demo": NavPlugin()}], indirect=True)
def test_hook_lms_nav_items(app, web, make_user):
    anonymous = main_nav(web)
    assert '<a href="/catalogue">Catalogue</a>' in anonymous
    assert "Review queue" not in anonymous
    # Sorted by order: Home (0) before Catalogue (10).
    assert anonymous.index("Home") < anonymous.index("Catalogue")
    assert '<a href="/" aria-current="page">Home</a>' in anonymous

    web.sign_in(make_user("student").email, DEFAULT_PASSWORD)
    assert "Review queue" not in main_nav(web)

    trainer = app.test_client()
    trainer.sign_in(make_user("trainer").email, DEFAULT_PASSWORD)
    assert '<a href="/review-queue">Review queue</a>' in main_nav(trainer)


# Registered in reverse id order: the output order must follow plugin ids all the same.
@pytest.mark.parametrize("app", [{"b_markup": MarkupSlot(), "a_plain": PlainSlot()}],
                         indirect=True)
def test_hook_lms_template_slot(web, make_user):
    html = web.get("/").get_data(as_text=True)
    assert "&lt;b&gt;plain text&lt;/b&gt;" in html
    assert "<b>plain text</b>" not in html
    assert '<section class="from-plugin">guest</section>' in html
    assert html.index("plain text") < html.index("from-plugin")

    user = make_user(name="<i>Eve</i>")
    web.sign_in(user.email, DEFAULT_PASSWORD)
    html = web.get("/").get_data(as_text=True)
    # Markup.format escapes its arguments, so user data inside a trusted fragment stays text.
    assert '<section class="from-plugin">&lt;i&gt;Eve&lt;/i&gt;</section>' in html
