"""Test support for the github plugin:

- ``FakeGitHub``: a small GitHub on 127.0.0.1 (a real HTTP server in a thread) speaking the
  endpoints the plugin uses, with GitHub's status codes, headers and error bodies: the OAuth
  authorize redirect and token exchange, ``GET /user``, ``GET /repos/{o}/{r}``,
  ``POST /repos/{o}/{r}/generate`` (201; 422 when the name exists; 404 for an unknown
  template; 401 for a bad token; 403/429 when a rate limit is spent) and the OAuth app's
  ``DELETE /applications/{client_id}/token`` (HTTP Basic with the app's credentials; 204 and
  the token stops working; 404 for a token it does not know; 401 for wrong credentials);
  ``unavailable(n)`` makes the next n API calls answer 502.
- ``webhook_example(event, action)``: a real payload from the npm package
  ``@octokit/webhooks-examples`` (installed by scripts/npm-fixtures.sh).
- ``sign(secret, body)``: the ``X-Hub-Signature-256`` GitHub would send;
- the settings and helpers the tests share (``plugin_settings``, ``follow_authorisation``,
  ``account``, ``token_works``).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from cryptography.fernet import Fernet
from lms_github.models import GithubAccount
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[3]
TOKEN_KEY = Fernet.generate_key().decode()
WEBHOOK_SECRET = "whsec-test-0123456789"
BASE_URL = "http://lms.test"
TEMPLATE = "lmscore-templates/dp-sql-foundations"
EXAMPLES = (ROOT / ".services/npm/node_modules/@octokit/webhooks-examples/api.github.com"
            / "index.json")
DOCS = "https://docs.github.com/rest"
OAUTH_ERRORS_DOCS = ("https://docs.github.com/apps/managing-oauth-apps/"
                     "troubleshooting-oauth-app-access-token-request-errors/")


def plugin_settings(github: FakeGitHub, **overrides: Any) -> dict[str, Any]:
    return {"client_id": github.client_id, "client_secret": github.client_secret,
            "token_key": TOKEN_KEY, "webhook_secret": WEBHOOK_SECRET,
            "api_url": github.api_url, "web_url": github.url, **overrides}


def follow_authorisation(web, github: FakeGitHub) -> Any:
    """Click "Connect GitHub", let the fake GitHub approve, come back: the callback response."""
    response = web.submit("/profile", {}, action="/github/connect")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.location.startswith(github.url + "/login/oauth/authorize?")
    approved = requests.get(response.location, allow_redirects=False, timeout=5)
    assert approved.status_code == 302
    assert approved.headers["Location"].startswith(BASE_URL + "/github/callback?")
    return web.get(approved.headers["Location"].removeprefix(BASE_URL))


def account(lms, user) -> GithubAccount | None:
    """The learner's link as stored now."""
    lms.db.session.expire_all()
    return lms.db.session.scalar(select(GithubAccount).where(GithubAccount.user_id == user.id))


def token_works(github: FakeGitHub, token: str) -> bool:
    """Whether GitHub still accepts ``token`` (``GET /user``)."""
    response = requests.get(github.api_url + "/user", timeout=5,
                            headers={"Authorization": f"Bearer {token}"})
    return response.status_code != 401


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@cache
def _examples() -> dict[str, list[dict[str, Any]]]:
    if not EXAMPLES.is_file():  # a direct pytest run without scripts/test.sh first
        subprocess.run(["bash", str(ROOT / "scripts/npm-fixtures.sh")], check=True)
    return {entry["name"]: entry["examples"]
            for entry in json.loads(EXAMPLES.read_text(encoding="utf-8"))}


def webhook_example(event: str, action: str | None = None, *,
                    repository: str | None = None) -> dict[str, Any]:
    """A deep copy of the first example of ``event`` (with ``action``), its repository renamed
    to ``repository`` (``owner/name``) so that it points at a learner's repository."""
    for example in _examples()[event]:
        if action is None or example.get("action") == action:
            payload = copy.deepcopy(example)
            break
    else:
        raise LookupError(f"no {event} example with action {action!r}")
    if repository is not None and "repository" in payload:
        owner, name = repository.split("/")
        repo = payload["repository"]
        repo.update(name=name, full_name=repository,
                    html_url=f"https://github.com/{repository}")
        repo["owner"]["login"] = owner
    return payload


@dataclass
class FakeUser:
    login: str
    id: int
    scopes: str = "public_repo"


@dataclass
class Request:
    method: str
    path: str
    at: float
    headers: dict[str, str]
    body: Any = None


@dataclass
class FakeGitHub:
    """``url`` serves OAuth at ``/login/oauth/*`` and the REST API under ``api_prefix``
    ("" like api.github.com, "/api/v3" like GitHub Enterprise Server)."""

    client_id: str = "Iv1.testclient"
    client_secret: str = "test-client-secret"
    api_prefix: str = ""
    #: The GitHub user who approves the next authorisation in the "browser".
    authorizing: FakeUser = field(default_factory=lambda: FakeUser("octo-learner", 1001))
    templates: set[str] = field(default_factory=set)
    repositories: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    #: Called while a code is exchanged for a token: what the learner does meanwhile.
    during_exchange: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self._codes: dict[str, tuple[FakeUser, str]] = {}  # code → (user, redirect_uri)
        self.tokens: dict[str, FakeUser] = {}
        self._limited_until: dict[str, tuple[float, str]] = {}  # token → (until, kind)
        self._outages = 0  # API calls still to answer 502
        self._ids = itertools.count(5000)
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"github": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def api_url(self) -> str:
        return self.url + self.api_prefix

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- scripting -----------------------------------------------------------------------------

    def issue_token(self, user: FakeUser) -> str:
        token = "gho_" + secrets.token_hex(16)
        self.tokens[token] = user
        return token

    def revoke_all(self) -> None:
        self.tokens.clear()

    def unavailable(self, calls: int) -> None:
        """The next ``calls`` API requests answer 502, as GitHub does when it fails."""
        self._outages = calls

    def rate_limit(self, token: str, seconds: float, kind: str = "primary") -> None:
        """Spend ``token``'s limit for ``seconds``: a primary limit answers 403 with
        X-RateLimit-Remaining 0 and X-RateLimit-Reset; a secondary one 429 with Retry-After."""
        self._limited_until[token] = (time.time() + seconds, kind)

    def add_repository(self, full_name: str, *, template: bool = False) -> dict[str, Any]:
        owner, name = full_name.split("/")
        repo = {
            "id": next(self._ids), "node_id": "R_test", "name": name, "full_name": full_name,
            "owner": {"login": owner, "id": next(self._ids), "type": "User"},
            "private": False, "is_template": template,
            "html_url": f"{self.url}/{full_name}", "url": f"{self.api_url}/repos/{full_name}",
            "default_branch": "main",
        }
        self.repositories[full_name.lower()] = repo
        if template:
            self.templates.add(full_name.lower())
        return repo

    def calls(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    # -- endpoints -----------------------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if query.get("client_id") != self.client_id:
            return 404, {"Content-Type": "text/html"}, b"<h1>404</h1>"
        code = secrets.token_hex(10)
        self._codes[code] = (self.authorizing, query.get("redirect_uri", ""))
        self.authorizing.scopes = ",".join(query.get("scope", "").split())
        location = query["redirect_uri"] + "?" + urlencode({"code": code,
                                                            "state": query.get("state", "")})
        return 302, {"Location": location}, b""

    def access_token(self, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        # GitHub answers token errors with status 200 and an error object.
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id,
                                                                  self.client_secret):
            return 200, {}, {"error": "incorrect_client_credentials",
                             "error_description": "The client_id and/or client_secret passed "
                                                  "are incorrect.",
                             "error_uri": OAUTH_ERRORS_DOCS + "#incorrect-client-credentials"}
        entry = self._codes.pop(form.get("code", ""), None)  # codes work once
        if entry is None:
            return 200, {}, {"error": "bad_verification_code",
                             "error_description": "The code passed is incorrect or expired.",
                             "error_uri": OAUTH_ERRORS_DOCS + "#bad-verification-code"}
        user, redirect_uri = entry
        if self.during_exchange is not None:
            self.during_exchange()
        if form.get("redirect_uri") and form["redirect_uri"] != redirect_uri:
            return 200, {}, {"error": "redirect_uri_mismatch",
                             "error_description": "The redirect_uri MUST match the registered "
                                                  "callback URL for this application.",
                             "error_uri": OAUTH_ERRORS_DOCS + "#redirect-uri-mismatch"}
        return 200, {}, {"access_token": self.issue_token(user), "token_type": "bearer",
                         "scope": user.scopes}

    def delete_app_token(self, client_id: str, authorization: str,
                         body: Any) -> tuple[int, dict[str, str], Any]:
        """``DELETE /applications/{client_id}/token``: the OAuth app revokes one of its
        tokens."""
        docs = DOCS + "/apps/oauth-applications#delete-an-app-token"
        scheme, _, encoded = authorization.partition(" ")
        try:
            credentials = (base64.b64decode(encoded, validate=True).decode()
                           if scheme.lower() == "basic" else "")
        except (binascii.Error, UnicodeDecodeError):
            credentials = ""
        if credentials != f"{self.client_id}:{self.client_secret}":
            return 401, {}, {"message": "Bad credentials" if credentials else
                             "Requires authentication", "documentation_url": docs,
                             "status": "401"}
        if client_id != self.client_id:
            return 404, {}, {"message": "Not Found", "documentation_url": docs, "status": "404"}
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            return 422, {}, {"message": "Invalid request.\n\n\"access_token\" wasn't supplied.",
                             "documentation_url": docs, "status": "422"}
        if self.tokens.pop(token, None) is None:
            return 404, {}, {"message": "Not Found", "documentation_url": docs, "status": "404"}
        self._limited_until.pop(token, None)
        return 204, {}, b""

    def api(self, method: str, path: str, token: str | None,
            body: Any) -> tuple[int, dict[str, str], Any]:
        user = self.tokens.get(token or "")
        if user is None:
            return 401, {}, {"message": "Bad credentials" if token else
                             "Requires authentication", "documentation_url": DOCS,
                             "status": "401"}
        now = time.time()
        until, kind = self._limited_until.get(token, (0.0, ""))
        if now < until:
            if kind == "secondary":
                return 429, {"Retry-After": str(max(1, round(until - now)))}, {
                    "message": "You have exceeded a secondary rate limit. Please wait a few "
                               "minutes before you try again.",
                    "documentation_url": DOCS + "/using-the-rest-api/rate-limits-for-the-rest-"
                                                "api#about-secondary-rate-limits",
                    "status": "429"}
            return 403, self._limit_headers(0, until), {
                "message": f"API rate limit exceeded for user ID {user.id}.",
                "documentation_url": DOCS + "/using-the-rest-api/rate-limits-for-the-rest-api",
                "status": "403"}
        headers = {**self._limit_headers(4999, now + 3600), "X-OAuth-Scopes": user.scopes}
        if method == "GET" and path == "/user":
            return 200, headers, {"login": user.login, "id": user.id, "type": "User",
                                  "html_url": f"{self.url}/{user.login}"}
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/generate)?", path)
        if match is None:
            return 404, {}, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
        full_name = f"{match[1]}/{match[2]}"
        if method == "GET" and not match[3]:
            repo = self.repositories.get(full_name.lower())
            if repo is None:
                return 404, {}, {"message": "Not Found", "status": "404", "documentation_url":
                                 DOCS + "/repos/repos#get-a-repository"}
            return 200, headers, repo
        if method == "POST" and match[3]:
            return self._generate(full_name, body or {}, headers)
        return 404, {}, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}

    def _generate(self, template: str, body: dict[str, Any],
                  headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        docs = DOCS + "/repos/repos#create-a-repository-using-a-template"
        if template.lower() not in self.templates:
            return 404, {}, {"message": "Not Found", "documentation_url": docs, "status": "404"}
        new = f"{body.get('owner')}/{body.get('name')}"
        if new.lower() in self.repositories:
            return 422, {}, {"message": "Unprocessable Entity", "errors": [
                "Could not clone: Name already exists on this account"],
                "documentation_url": docs, "status": "422"}
        repo = self.add_repository(new)
        repo["private"] = bool(body.get("private"))
        repo["template_repository"] = self.repositories[template.lower()]
        return 201, headers, repo

    @staticmethod
    def _limit_headers(remaining: int, reset: float) -> dict[str, str]:
        return {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(int(reset) + (1 if reset % 1 else 0)),
                "X-RateLimit-Used": str(5000 - remaining), "X-RateLimit-Resource": "core"}


class _Handler(BaseHTTPRequestHandler):
    github: FakeGitHub

    def _respond(self, status: int, headers: dict[str, str], body: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        if not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        github = self.github
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with github._lock:
            if parts.path == "/login/oauth/authorize" and method == "GET":
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                github.requests.append(Request(method, parts.path, time.time(), headers, query))
                return self._respond(*github.authorize(query))
            if parts.path == "/login/oauth/access_token" and method == "POST":
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                github.requests.append(Request(method, parts.path, time.time(), headers, form))
                status, extra, body = github.access_token(form)
                if "application/json" not in headers.get("accept", ""):
                    return self._respond(status, {"Content-Type": "application/x-www-form-"
                                                  "urlencoded"}, urlencode(body).encode())
                return self._respond(status, extra, body)
            if not parts.path.startswith(github.api_prefix + "/"):
                return self._respond(404, {}, {"message": "Not Found", "status": "404"})
            path = parts.path[len(github.api_prefix):]
            body = json.loads(raw) if raw else None
            github.requests.append(Request(method, path, time.time(), headers, body))
            if github._outages:
                github._outages -= 1
                return self._respond(502, {}, {"message": "Server Error"})
            app_token = re.fullmatch(r"/applications/([^/]+)/token", path)
            if app_token and method == "DELETE":
                return self._respond(*github.delete_app_token(
                    app_token[1], headers.get("authorization", ""), body))
            scheme, _, token = headers.get("authorization", "").partition(" ")
            token = token if scheme.lower() in ("bearer", "token") else None
            return self._respond(*github.api(method, path, token, body))

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")

    def do_DELETE(self):  # noqa: N802
        self._handle("DELETE")

    def log_message(self, *args):
        pass
