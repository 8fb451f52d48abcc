"""The home page, the page layout's accessibility basics, and the offline API docs page."""

from __future__ import annotations

import re

import pytest
from markupsafe import Markup

from lmscore import hookimpl
from lmscore.testing.plugin import DEFAULT_PASSWORD

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def assert_no_inline_script(html: str) -> None:
    assert not INLINE_SCRIPT.search(html)
    assert not EVENT_HANDLER.search(html)


def test_home_page_for_visitors(web):
    response = web.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    assert '<a class="skip-link" href="#main">Skip to content</a>' in html
    assert '<header class="site-header">' in html
    assert '<nav aria-label="Main">' in html
    assert '<main id="main" tabindex="-1">' in html
    assert "<footer" in html
    assert "<h1 id=\"hero-title\">Learn by doing, remember for good</h1>" in html
    assert 'href="/register"' in html and 'href="/login"' in html
    assert "How it works" in html
    assert_no_inline_script(html)


def test_the_site_has_an_icon_where_browsers_look(web):
    html = web.get("/").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    legacy = web.get("/favicon.ico")
    assert legacy.status_code == 301 and legacy.location.endswith("/static/favicon.svg")
    icon = web.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"


def test_home_page_for_signed_in_users(web, make_user):
    user = make_user(name="Ann Learner")
    web.sign_in(user.email, DEFAULT_PASSWORD)
    html = web.get("/").get_data(as_text=True)
    assert "Welcome back, Ann Learner" in html
    assert 'href="/profile"' in html
    assert "How it works" not in html
    assert 'href="/register"' not in html


def test_home_sections_slot(app_factory):
    class Catalogue:
        @hookimpl
        def lms_template_slot(self, lms, slot, context):
            if slot == "home_sections":
                return Markup('<section aria-labelledby="cat"><h2 id="cat">Tracks</h2></section>')
            return None

    web = app_factory(plugins={"catalogue": Catalogue()}).test_client()
    html = web.get("/").get_data(as_text=True)
    assert '<h2 id="cat">Tracks</h2>' in html


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/no-such-page"])
def test_core_pages_have_no_inline_script(web, path):
    assert_no_inline_script(web.get(path).get_data(as_text=True))


def test_stylesheet_is_responsive_and_shows_focus(web):
    css = web.get("/static/lmscore.css").get_data(as_text=True)
    assert "@media (max-width: 40rem)" in css
    assert ":focus-visible" in css and "outline" in css


def test_error_page_survives_a_broken_layout(app_factory):
    app = app_factory()

    @app.get("/broken")
    def broken():
        raise RuntimeError("boom")

    app.jinja_env.globals["nav_items"] = lambda: 1 / 0  # the layout itself fails now
    response = app.test_client().get("/broken")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert "<h1>Internal Server Error</h1>" in response.get_data(as_text=True)


def test_api_docs_work_offline_under_the_csp(web):
    page = web.get("/api/v1/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert_no_inline_script(html)
    assert 'data-spec-url="/api/v1/openapi.json"' in html

    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert {
        "/static/swagger-ui/swagger-ui.css", "/static/swagger-ui/swagger-ui-bundle.js",
        "/static/api-docs.js", "/static/api-docs.css",
    } <= set(assets)
    for asset in assets:
        response = web.get(asset)
        assert response.status_code == 200, asset
        assert len(response.get_data()) > 100, asset
    # Nothing is loaded from another host.
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    assert web.get("/api/v1/openapi.json").json["info"]["title"]
