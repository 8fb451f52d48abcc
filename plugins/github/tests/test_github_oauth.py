"""Connecting GitHub: the authorization-code flow with a session-bound, single-use state, the
token encrypted at rest, and a 401 marking the link broken. (Disconnecting:
test_github_disconnect.py; key rotation: test_github_token_keys.py.)"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from github_support import BASE_URL, TOKEN_KEY, account, follow_authorisation

from lmscore.errors import ConfigError, StartupError
from lmscore.testing.plugin import DEFAULT_PASSWORD


def test_connect_end_to_end(signed_in, github, jobs, lms, learner):
    # Browsers follow the form's redirect only to an origin its page's form-action allows.
    profile = signed_in.get("/profile")
    assert f"form-action 'self' {github.url};" in profile.headers["Content-Security-Policy"]
    response = signed_in.submit("/profile", {}, action="/github/connect")
    assert response.location.startswith(github.url + "/login/oauth/authorize?")
    query = parse_qs(urlsplit(response.location).query)
    assert query["client_id"] == [github.client_id]
    assert query["scope"] == ["public_repo"]
    assert query["redirect_uri"] == [BASE_URL + "/github/callback"]
    assert len(query["state"][0]) >= 30  # Authlib: 30 random characters

    approved = requests.get(response.location, allow_redirects=False, timeout=5)
    callback = signed_in.get(approved.headers["Location"].removeprefix(BASE_URL))
    assert callback.status_code == 302 and callback.location.endswith("/profile#github")
    assert account(lms, learner).status == "connecting"
    assert github.calls("POST", "/login/oauth/access_token") == []  # only jobs call GitHub

    jobs.drain()
    linked = account(lms, learner)
    assert (linked.status, linked.login, linked.github_id) == ("active", "octo-learner", 1001)
    assert linked.scopes == "public_repo"
    [exchange] = github.calls("POST", "/login/oauth/access_token")
    assert exchange.body["redirect_uri"] == BASE_URL + "/github/callback"
    # At rest the token is a Fernet token under the configured key, never the token itself.
    token = next(iter(github.tokens))
    assert token not in linked.secret_encrypted
    assert Fernet(TOKEN_KEY.encode()).decrypt(linked.secret_encrypted.encode()).decode() == (
        f"token:{token}")
    [me] = github.calls("GET", "/user")
    assert me.headers["authorization"] == f"Bearer {token}"
    page = signed_in.get("/profile").get_data(as_text=True)
    assert "Connected as <strong>octo-learner</strong>" in page


def test_the_state_must_match_this_session_and_works_once(signed_in, github, app, lms,
                                                          learner):
    response = signed_in.submit("/profile", {}, action="/github/connect")
    approved = requests.get(response.location, allow_redirects=False, timeout=5)
    callback_path = approved.headers["Location"].removeprefix(BASE_URL)
    forged = callback_path.replace("state=", "state=x")
    signed_in.get(forged)  # a wrong state also uses up the session's state
    assert account(lms, learner) is None
    assert "stale or was not started here" in signed_in.get("/profile").get_data(as_text=True)
    signed_in.get(callback_path)  # the right state, but already taken out of the session
    assert account(lms, learner) is None

    other_browser = app.test_client()
    other_browser.sign_in(learner.email, DEFAULT_PASSWORD)
    other_browser.get(callback_path)  # a state issued to another session
    assert account(lms, learner) is None


def test_a_refused_code_breaks_the_link_and_asks_to_reconnect(signed_in, github, jobs, lms,
                                                              learner):
    response = signed_in.submit("/profile", {}, action="/github/connect")
    approved = requests.get(response.location, allow_redirects=False, timeout=5)
    code = parse_qs(urlsplit(approved.headers["Location"]).query)["code"][0]
    github.access_token({"client_id": github.client_id, "client_secret": github.client_secret,
                         "code": code})  # someone spent the code first
    signed_in.get(approved.headers["Location"].removeprefix(BASE_URL))
    jobs.drain()
    broken = account(lms, learner)
    assert broken.status == "broken" and broken.secret_encrypted is None
    assert "The code passed is incorrect or expired." in broken.problem
    page = signed_in.get("/profile").get_data(as_text=True)
    assert "Your GitHub link is broken." in page and "Reconnect GitHub" in page


def test_the_web_actions_need_the_csrf_token(signed_in, course):
    assert signed_in.post("/github/connect").status_code == 400
    assert signed_in.post("/github/disconnect").status_code == 400
    assert signed_in.post(f"/projects/{course.project.id}/github/start").status_code == 400


def test_cancelled_authorisation(signed_in, github, lms, learner):
    response = signed_in.submit("/profile", {}, action="/github/connect")
    state = parse_qs(urlsplit(response.location).query)["state"][0]
    signed_in.get(f"/github/callback?error=access_denied&state={state}")
    assert account(lms, learner) is None
    assert "you cancelled it" in signed_in.get("/profile").get_data(as_text=True)


def test_scopes_are_configurable(make_app, github, make_user):
    app = make_app(scopes=["repo"], private=True)
    user = make_user("student")
    web = app.test_client()
    web.sign_in(user.email, DEFAULT_PASSWORD)
    response = web.submit("/profile", {}, action="/github/connect")
    assert parse_qs(urlsplit(response.location).query)["scope"] == ["repo"]


def test_private_repositories_need_the_repo_scope(make_app):
    with pytest.raises((ConfigError, StartupError), match="plugins.github.scopes"):
        make_app(private=True)


def test_a_bad_token_key_stops_start_up(make_app):
    with pytest.raises((ConfigError, StartupError), match="plugins.github.token_key"):
        make_app(token_key="not a key")


def test_unconfigured_site_says_so(app_factory, make_user):
    app = app_factory({"plugins": {"enabled": ["github"]}})
    user = make_user("student")
    web = app.test_client()
    web.sign_in(user.email, DEFAULT_PASSWORD)
    assert "GitHub is not set up on this site yet." in web.get("/profile").get_data(as_text=True)
    web.submit("/profile", {}, action="/github/connect")
    assert "ask an administrator" in web.get("/profile").get_data(as_text=True)


def test_api_shows_the_link(connected, api_client, learner):
    body = api_client(learner).get("/api/v1/github/account").json
    assert body == {"status": "active", "login": "octo-learner", "scopes": "public_repo",
                    "problem": None, "connect_url": BASE_URL + "/profile#github"}


def test_a_401_marks_the_link_broken_and_every_page_says_reconnect(connected, github, jobs,
                                                                   lms, learner, course,
                                                                   api_client):
    github.revoke_all()  # the learner revoked the OAuth app on GitHub
    connected.submit(f"/projects/{course.project.id}", {},
                     action=f"/projects/{course.project.id}/github/start")
    jobs.drain()
    broken = account(lms, learner)
    assert broken.status == "broken" and "Bad credentials" in broken.problem
    assert broken.secret_encrypted is None
    page = connected.get("/tracks").get_data(as_text=True)
    assert "Reconnect GitHub" in page  # the navigation, on any page
    assert api_client(learner).get("/api/v1/github/account").json["status"] == "broken"
    project_page = connected.get(f"/projects/{course.project.id}").get_data(as_text=True)
    assert "GitHub no longer accepts your link" in project_page

    # Reconnecting repairs it.
    follow_authorisation(connected, github)
    jobs.drain()
    assert account(lms, learner).status == "active"
