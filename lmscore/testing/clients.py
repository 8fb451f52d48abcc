"""Test clients: an API client that carries a bearer token, a web client that handles CSRF."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class ApiClient:
    """Sends JSON to the API, as ``user`` when given (a fresh access token per client)."""

    def __init__(self, app: Flask, user: Any = None):
        self.app = app
        self.client = app.test_client()
        self.user = user
        self.headers: dict[str, str] = {}
        if user is not None:
            from ..services.auth import make_access_token

            with app.app_context():
                token = make_access_token(app.extensions["lmscore"], user)
            self.headers["Authorization"] = f"Bearer {token}"

    def open(self, method: str, path: str, **kwargs: Any):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any):
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any):
        return self.open("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any):
        return self.open("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any):
        return self.open("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.open("DELETE", path, **kwargs)


class WebClient(FlaskClient):
    """A browser-like client: ``submit`` fetches the form page for its CSRF token first."""

    def csrf_token(self, page: str = "/") -> str:
        html = self.get(page).get_data(as_text=True)
        match = CSRF_RE.search(html)
        if match is None:
            raise AssertionError(f"no CSRF token on {page}")
        return match.group(1)

    def submit(self, page: str, data: dict[str, Any], action: str | None = None, **kwargs: Any):
        token = self.csrf_token(page)
        return self.post(action or page, data={**data, "csrf_token": token}, **kwargs)

    def sign_in(self, email: str, password: str):
        response = self.submit("/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response
