"""Security headers, CSRF, error pages and autoescaping of the web UI."""

from __future__ import annotations

from flask import Blueprint, render_template_string, request

from lmscore import hookimpl
from lmscore.testing.plugin import DEFAULT_PASSWORD


def test_security_headers_on_pages_static_files_and_api(web):
    for path in ("/", "/static/lmscore.css", "/api/v1/openapi.json", "/no-such-page"):
        headers = web.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Strict-Transport-Security" not in headers


def test_hsts_only_behind_tls(app_factory):
    web = app_factory(config={"web": {"behind_tls": True}}).test_client()
    assert web.get("/").headers["Strict-Transport-Security"].startswith("max-age=")


class FormPlugin:
    @hookimpl
    def lms_register_web_blueprints(self, lms):
        bp = Blueprint("demo_form", __name__)

        @bp.route("/demo/form", methods=["GET", "POST"])
        def form():
            if request.method == "POST":
                return f"saved {request.form['note']}"
            return render_template_string(
                '{% from "_macros.html" import csrf %}'
                '<form method="post">{{ csrf() }}<input name="note"></form>'
            )

        return [bp]


def test_plugin_form_post_without_csrf_token_is_refused(app_factory):
    web = app_factory(plugins={"demo": FormPlugin()}).test_client()

    refused = web.post("/demo/form", data={"note": "hi"})
    assert refused.status_code == 400
    assert refused.mimetype == "text/html"
    assert "Form expired" in refused.get_data(as_text=True)

    accepted = web.submit("/demo/form", {"note": "hi"})
    assert accepted.status_code == 200
    assert accepted.get_data(as_text=True) == "saved hi"


def test_not_found_is_html_for_pages_and_json_for_the_api(web):
    page = web.get("/no-such-page")
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "<h1 id=\"error-title\">Not Found</h1>" in html
    assert 'href="#main"' in html  # the full layout, skip link included

    api = web.get("/api/v1/no-such-resource")
    assert api.status_code == 404
    assert api.mimetype == "application/json"
    assert api.json["error"]["code"] == "not_found"


def test_method_not_allowed_page_keeps_allow_header(web):
    response = web.open("/", method="DELETE", headers={"X-CSRFToken": web.csrf_token("/login")})
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "GET" in response.headers["Allow"]


def test_user_text_is_escaped(web, make_user):
    user = make_user(name='<script>alert("x")</script>')
    web.sign_in(user.email, DEFAULT_PASSWORD)
    html = web.get("/").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html



def test_a_nul_character_in_a_query_or_form_is_refused_naming_the_field(web, make_user):
    """PostgreSQL cannot store or compare text with NUL: a page refuses it up front."""
    admin = make_user("admin")
    web.sign_in(admin.email, DEFAULT_PASSWORD)
    listing = web.get("/admin/users?q=a%00b")
    assert listing.status_code == 422 and "&#39;q&#39; contains a NUL character" in listing.text
    form = web.submit("/admin/users", {"q": "", "new_role": "trainer\x00"},
                      action=f"/admin/users/{admin.id}/role")
    assert form.status_code == 422 and "new_role" in form.text
    assert web.get("/admin/users?q=ab").status_code == 200
