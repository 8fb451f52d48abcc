"""Web account pages: sign-in, password reset, email verification, password change, CSRF."""

import re
from urllib.parse import urlsplit

import pytest

from lmscore.models import User
from lmscore.services import auth
from lmscore.testing.plugin import DEFAULT_PASSWORD

LINK_RE = re.compile(r"https?://\S+")


def email_link(message, path):
    """The site-relative link to ``path`` in an email."""
    for link in LINK_RE.findall(message.get_content()):
        parts = urlsplit(link)
        if parts.path == path:
            return f"{parts.path}?{parts.query}"
    raise AssertionError(f"no link to {path} in {message.get_content()!r}")


def test_session_cookie_is_httponly_and_samesite_lax(web, make_user):
    user = make_user()
    response = web.sign_in(user.email, DEFAULT_PASSWORD)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("lms_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_sign_in_page_is_accessible_and_links_to_password_reset(web):
    html = web.get("/login").get_data(as_text=True)
    assert '<label for="email">' in html and '<label for="password">' in html
    assert 'href="/password-reset"' in html


def test_sign_in_failure_message_is_the_same_for_unknown_emails(web, make_user):
    user = make_user()
    known = web.submit("/login", {"email": user.email, "password": "wrong password"})
    unknown = web.submit("/login", {"email": "nobody@example.org", "password": "wrong password"})
    assert known.status_code == unknown.status_code == 401
    assert auth.GENERIC_LOGIN_ERROR in known.get_data(as_text=True)
    assert auth.GENERIC_LOGIN_ERROR in unknown.get_data(as_text=True)
    # The page opens on the message, so a screen reader reads it out.
    assert re.search(r'<p class="flash flash-error" role="alert" tabindex="-1" autofocus>[^<]*'
                     + re.escape(auth.GENERIC_LOGIN_ERROR), known.get_data(as_text=True))


def test_a_locked_account_page_says_when_to_try_again(web, make_user):
    user = make_user()
    for _ in range(5):
        web.submit("/login", {"email": user.email, "password": "wrong password"})
    locked = web.submit("/login", {"email": user.email, "password": DEFAULT_PASSWORD})
    assert locked.status_code == 429
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60 + 1
    assert "<form" in locked.get_data(as_text=True)  # the sign-in form, with the message


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/profile", "/profile"),
        ("/profile?tab=1", "/profile?tab=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
    ],
)
def test_next_after_sign_in_never_leaves_the_site(web, make_user, next_url, expected):
    user = make_user()
    response = web.submit("/login", {"email": user.email, "password": DEFAULT_PASSWORD,
                                     "next": next_url})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_a_protected_page_sends_to_sign_in_and_back(web, make_user):
    user = make_user()
    response = web.get("/profile")
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert login_url == "/login?next=/profile"
    assert web.get("/quizzes?page=2").headers["Location"] == "/login?next=/quizzes?page%3D2"
    back = web.submit(login_url, {"email": user.email, "password": DEFAULT_PASSWORD,
                                  "next": "/profile"})
    assert back.headers["Location"] == "/profile"


FORMS = [
    ("/login", {"email": "a@example.org", "password": "x"}),
    ("/register", {"email": "a@example.org", "password": "long enough 1", "name": "A"}),
    ("/password-reset", {"email": "a@example.org"}),
    ("/password-reset/confirm", {"token": "t", "password": "long enough 1"}),
    ("/verify-email", {"token": "t"}),
    ("/profile", {"name": "A", "timezone": "UTC"}),
    ("/profile/password", {"current_password": DEFAULT_PASSWORD, "new_password": "long enough 1"}),
    ("/logout", {}),
]


@pytest.mark.parametrize(("path", "data"), FORMS)
def test_every_form_refuses_a_post_without_csrf_token(web, make_user, lms, path, data):
    user = make_user()
    web.sign_in(user.email, DEFAULT_PASSWORD)
    response = web.post(path, data=data)
    assert response.status_code == 400
    # Nothing happened: still signed in with the old password.
    assert auth.verify_password(lms.db.session.get(User, user.id), DEFAULT_PASSWORD)
    assert user.name in web.get("/").get_data(as_text=True)


@pytest.mark.parametrize("page", ["/login", "/register", "/password-reset", "/profile"])
def test_every_form_page_carries_a_csrf_token(web, make_user, page):
    user = make_user()
    if page == "/profile":
        web.sign_in(user.email, DEFAULT_PASSWORD)
    html = web.get(page).get_data(as_text=True)
    assert html.count('name="csrf_token"') >= html.count('method="post"') >= 1


def test_register_page_shows_field_errors(web):
    response = web.submit("/register", {"email": "e@example.org", "password": "1234567890",
                                        "name": "Eve"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "must not be only digits" in html
    # Only the field in error takes the focus, and its message describes it.
    assert html.count("autofocus") == 1
    assert re.search(r'<input id="password"[^>]* aria-describedby="password-help password-error"'
                     r' aria-invalid="true" autofocus>', html)


# -- password reset ------------------------------------------------------------------------------


def test_password_reset_end_to_end(web, make_user, jobs, mailbox, lms):
    user = make_user()
    other_browser = type(web)(web.application)
    other_browser.sign_in(user.email, DEFAULT_PASSWORD)

    response = web.submit("/password-reset", {"email": user.email})
    assert response.status_code == 200
    assert auth.RESET_REQUESTED in response.get_data(as_text=True)
    jobs.drain()
    link = email_link(mailbox()[0], "/password-reset/confirm")

    page = web.get(link)
    assert page.status_code == 200
    assert '<label for="password">New password</label>' in page.get_data(as_text=True)
    weak = web.submit(link, {"token": link.split("token=")[1], "password": "short"},
                      action="/password-reset/confirm")
    assert weak.status_code == 422
    assert "at least 8 characters" in weak.get_data(as_text=True)

    done = web.submit(link, {"token": link.split("token=")[1], "password": "a new passphrase"},
                      action="/password-reset/confirm")
    assert done.status_code == 302
    assert done.headers["Location"] == "/login"
    assert auth.verify_password(lms.db.session.get(User, user.id), "a new passphrase")
    # The other browser was signed out; the used link no longer shows a form.
    assert user.name not in other_browser.get("/").get_data(as_text=True)
    used = web.get(link)
    assert used.status_code == 422
    assert "invalid or has already been used" in used.get_data(as_text=True)
    web.sign_in(user.email, "a new passphrase")


def test_password_reset_page_says_the_same_for_unknown_emails(web, make_user, jobs, mailbox):
    user = make_user()
    known = web.submit("/password-reset", {"email": user.email}).get_data(as_text=True)
    unknown = web.submit("/password-reset", {"email": "nobody@example.org"}).get_data(as_text=True)
    strip = re.compile(r'name="csrf_token" value="[^"]+"')
    assert strip.sub("", known.replace(user.email, "X")) == strip.sub(
        "", unknown.replace("nobody@example.org", "X")
    )
    jobs.drain()
    assert len(mailbox()) == 1


def test_a_bad_reset_link_shows_no_form(web):
    response = web.get("/password-reset/confirm?token=garbage")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "New password" not in html
    assert 'href="/password-reset"' in html


# -- email verification --------------------------------------------------------------------------


def test_email_verification_link_works_end_to_end(web, jobs, mailbox, lms):
    response = web.submit("/register", {"email": "fay@example.org", "password": "long enough 1",
                                        "name": "Fay"})
    assert response.status_code == 302
    assert "not confirmed yet" in web.get("/profile").get_data(as_text=True)
    jobs.drain()
    link = email_link(mailbox()[0], "/verify-email")

    page = web.get(link)
    assert page.status_code == 200
    confirmed = web.submit(link, {"token": link.split("token=")[1]}, action="/verify-email")
    assert confirmed.status_code == 302
    profile = web.get("/profile").get_data(as_text=True)
    assert "not confirmed yet" not in profile
    assert "Your email address is confirmed." in profile
    assert web.get(link).status_code == 422


# -- changing the password ---------------------------------------------------------------------


def test_change_password_on_the_profile_page(web, make_user, lms):
    user = make_user()
    other_browser = type(web)(web.application)
    other_browser.sign_in(user.email, DEFAULT_PASSWORD)
    web.sign_in(user.email, DEFAULT_PASSWORD)

    wrong = web.submit("/profile", {"current_password": "nope", "new_password": "long enough 1"},
                       action="/profile/password")
    assert wrong.status_code == 422
    assert "is wrong" in wrong.get_data(as_text=True)
    weak = web.submit("/profile", {"current_password": DEFAULT_PASSWORD,
                                   "new_password": user.email}, action="/profile/password")
    assert weak.status_code == 422
    assert 'id="new_password-error"' in weak.get_data(as_text=True)

    done = web.submit("/profile", {"current_password": DEFAULT_PASSWORD,
                                   "new_password": "a new passphrase"}, action="/profile/password")
    assert done.status_code == 302
    assert auth.verify_password(lms.db.session.get(User, user.id), "a new passphrase")
    # This browser stays signed in; the other one is signed out.
    assert "Password changed" in web.get("/profile").get_data(as_text=True)
    assert user.name not in other_browser.get("/").get_data(as_text=True)


def test_profile_edit_validates_the_time_zone(web, make_user):
    user = make_user()
    web.sign_in(user.email, DEFAULT_PASSWORD)
    bad = web.submit("/profile", {"name": "New Name", "timezone": "Mars/Olympus"})
    assert bad.status_code == 422
    assert "Unknown time zone" in bad.get_data(as_text=True)
    # The form shows what was typed, to correct it, not the stored values.
    assert 'value="Mars/Olympus"' in bad.text and 'value="New Name"' in bad.text
    good = web.submit("/profile", {"name": "New Name", "timezone": "Europe/Brussels"})
    assert good.status_code == 302
    assert "New Name" in web.get("/profile").get_data(as_text=True)
