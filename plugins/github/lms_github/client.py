"""GitHub over HTTP: the OAuth token exchange (Authlib) and the few REST calls we make
(requests). Flask-free; used only from background jobs. Errors are typed so jobs can tell a
revoked token (401) from a spent rate limit (wait, then retry) from anything else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from . import __name__ as _package

API_VERSION = "2022-11-28"
USER_AGENT = f"lmscore ({_package})"
#: GitHub asks clients to wait at least a minute after a secondary rate limit without a
#: Retry-After header.
SECONDARY_LIMIT_WAIT = timedelta(seconds=60)


class GitHubError(Exception):
    """GitHub answered with an error status (or could not be reached: ``status`` 0)."""

    def __init__(self, status: int, message: str, body: Any = None):
        super().__init__(f"GitHub answered {status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.body = body


class BadCredentials(GitHubError):
    """401: the token was revoked, expired or never valid. The learner must reconnect."""


class RateLimited(GitHubError):
    """A primary or secondary rate limit: nothing may be sent with this token before
    ``retry_at``."""

    def __init__(self, status: int, message: str, retry_at: datetime):
        super().__init__(status, message)
        self.retry_at = retry_at


class OAuthFailed(Exception):
    """The authorisation code could not be exchanged (expired, reused, wrong client)."""


@dataclass(frozen=True)
class Response:
    status: int
    body: Any
    #: When a successful call used the last request of the rate-limit window: its reset.
    exhausted_until: datetime | None
    scopes: str


def _epoch(value: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC) if value else None
    except ValueError:
        return None


def rate_limit_wait(status: int, headers: Any, message: str, now: datetime) -> datetime | None:
    """When GitHub says to wait (its documented rate-limit signals), the time to wait until."""
    if status not in (403, 429):
        return None
    retry_after = headers.get("Retry-After")
    if retry_after and retry_after.strip().isdigit():
        return now + timedelta(seconds=int(retry_after))
    if headers.get("X-RateLimit-Remaining") == "0":
        return _epoch(headers.get("X-RateLimit-Reset")) or now + SECONDARY_LIMIT_WAIT
    if status == 429 or "rate limit" in message.lower():
        return now + SECONDARY_LIMIT_WAIT
    return None


class GitHubApi:
    """REST calls against ``api_url`` (GitHub or GHES's /api/v3), with one user's token or,
    from ``as_oauth_app``, as the OAuth app itself."""

    def __init__(self, api_url: str, token: str | None, *, timeout_s: float = 10,
                 http: requests.Session | None = None):
        self.api_url = api_url.rstrip("/")
        self.timeout_s = timeout_s
        self.http = http or requests.Session()
        self.http.headers.update({
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        })
        if token is not None:
            self.http.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def as_oauth_app(cls, api_url: str, client_id: str, client_secret: str, *,
                     timeout_s: float = 10) -> GitHubApi:
        """The ``/applications/{client_id}/…`` endpoints take the app's own credentials:
        HTTP Basic with the client ID and secret."""
        api = cls(api_url, None, timeout_s=timeout_s)
        api.http.auth = (client_id, client_secret)
        return api

    def call(self, method: str, path: str, json: dict[str, Any] | None = None,
             ok: tuple[int, ...] = (200, 201)) -> Response:
        try:
            response = self.http.request(method, self.api_url + path, json=json,
                                         timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise GitHubError(0, f"GitHub could not be reached: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("message", "") if isinstance(body, dict) else response.reason or ""
        now = datetime.now(UTC)
        if response.status_code == 401:
            raise BadCredentials(401, message or "Bad credentials", body)
        retry_at = rate_limit_wait(response.status_code, response.headers, message, now)
        if retry_at is not None:
            raise RateLimited(response.status_code, message or "rate limited", retry_at)
        if response.status_code not in ok:
            raise GitHubError(response.status_code, message or response.reason, body)
        exhausted = None
        if response.headers.get("X-RateLimit-Remaining") == "0":
            exhausted = _epoch(response.headers.get("X-RateLimit-Reset"))
        return Response(response.status_code, body, exhausted,
                        response.headers.get("X-OAuth-Scopes", ""))

    def user(self) -> Response:
        return self.call("GET", "/user")

    def repository(self, owner: str, name: str) -> Response:
        return self.call("GET", f"/repos/{owner}/{name}")

    def generate(self, template: str, *, owner: str, name: str, private: bool,
                 description: str) -> Response:
        """Create ``owner/name`` from the template repository ``template`` (``o/r``)."""
        return self.call("POST", f"/repos/{template}/generate", json={
            "owner": owner, "name": name, "private": private, "description": description,
            "include_all_branches": False,
        }, ok=(201,))

    def revoke(self, client_id: str, token: str) -> Response:
        """Invalidate one access token of the OAuth app ``client_id`` (call ``as_oauth_app``).
        204 when revoked; GitHub answers 404 or 422 for a token it no longer knows."""
        return self.call("DELETE", f"/applications/{client_id}/token",
                         json={"access_token": token}, ok=(204,))


def already_exists(error: GitHubError) -> bool:
    """GitHub's 422 for a generated repository whose name is taken: ``errors`` holds
    "Could not clone: Name already exists on this account"."""
    if error.status != 422 or not isinstance(error.body, dict):
        return False
    texts = [e if isinstance(e, str) else str(e.get("message", ""))
             for e in error.body.get("errors") or []]
    return any("already exists" in text.lower() for text in texts)


class OAuthApp:
    """The OAuth app: authorisation URLs (web) and the code → token exchange (jobs)."""

    def __init__(self, web_url: str, client_id: str, client_secret: str, redirect_uri: str,
                 scopes: list[str], timeout_s: float = 10):
        self.web_url = web_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scopes = scopes
        self.timeout_s = timeout_s

    def _session(self) -> OAuth2Session:
        return OAuth2Session(
            self.client_id, self.client_secret, scope=" ".join(self.scopes),
            redirect_uri=self.redirect_uri, token_endpoint_auth_method="client_secret_post",
        )

    def authorization_url(self) -> tuple[str, str]:
        """(URL to send the browser to, the fresh ``state`` it carries)."""
        url, state = self._session().create_authorization_url(
            f"{self.web_url}/login/oauth/authorize", allow_signup="true")
        return url, state

    def exchange(self, code: str) -> dict[str, Any]:
        """The token response for ``code``. GitHub reports a bad code with status 200 and an
        ``error`` field; Authlib turns that into OAuthError."""
        try:
            return dict(self._session().fetch_token(
                f"{self.web_url}/login/oauth/access_token", code=code,
                timeout=self.timeout_s,
            ))
        except OAuthError as exc:
            raise OAuthFailed(exc.description or exc.error or "authorisation refused") from exc
        except (requests.RequestException, ValueError) as exc:  # unreachable, 5xx, not JSON
            raise GitHubError(0, f"GitHub's token endpoint failed: {exc}") from exc
