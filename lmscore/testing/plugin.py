"""pytest plugin (entry point ``pytest11``): fixtures for lmscore and plugin test suites.

Database: ``LMSCORE_TEST_DATABASE_URL`` (default: a SQLite file in a temporary directory).
The schema is created once per session; every test runs inside a transaction that is rolled
back afterwards, so tests never see each other's rows.

Fixtures:
- ``lms_config``: a dict of config overrides for the test's app (override it, or use
  ``@pytest.mark.lms_config({...})``);
- ``app_factory(config=None, plugins=None)``: build an app (plugins: ``{"id": obj}``
  registers throwaway plugins that are not installed);
- ``app``, ``lms`` (the Platform), ``db_session``;
- ``make_user(role="student", **fields)``: a user factory (password ``DEFAULT_PASSWORD``);
- ``api_client(user=None)`` / ``api_as(role)``: API clients; ``web``: a CSRF-aware web client;
- ``jobs``: the app's job queue (``jobs.drain()`` runs what was queued);
- ``mailbox``: emails sent so far (``email.message.EmailMessage``).
"""

from __future__ import annotations

import email
import email.policy
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from ..db import Base, make_engine
from ..plugins import installed_entry_points
from .clients import ApiClient, WebClient

DEFAULT_PASSWORD = "test-password-1"
TEST_SECRET = "test-secret-key-that-is-long-enough"
_PASSWORD_HASH: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lms_config(overrides): configuration overrides for this test's app"
    )


def _default_database_url(tmp_root: Path) -> str:
    return os.environ.get("LMSCORE_TEST_DATABASE_URL") or f"sqlite:///{tmp_root / 'lms-test.db'}"


@pytest.fixture(scope="session")
def lms_database_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="lmscore-test-") as tmp:
        yield _default_database_url(Path(tmp))


@pytest.fixture(scope="session")
def _lms_schema(lms_database_url: str) -> Iterator[None]:
    """Create every table of the core and of every installed plugin, once per session.
    (Migrations themselves are tested separately, from an empty database.)"""
    import lmscore.models  # noqa: F401

    for entry_point in installed_entry_points().values():
        entry_point.load()  # importing a plugin registers its tables on Base.metadata
    engine = make_engine(lms_database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield
    engine = create_engine(make_url(lms_database_url))
    Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def lms_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Per-test overrides; ``@pytest.mark.lms_config({...})`` adds to them."""
    merged: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("lms_config"))):
        merged = _deep_merge(merged, marker.args[0])
    return merged


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "mail"
    folder.mkdir()
    return folder


@pytest.fixture
def app_factory(
    _lms_schema: None, lms_database_url: str, lms_config: dict[str, Any], mail_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Any]]:
    from ..app import create_app

    # Tests must not pick up a developer's instance/lms.toml or LMS_* variables.
    for name in list(os.environ):
        if name.startswith("LMS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LMS_CONFIG", str(_empty_config(mail_dir.parent)))
    built: list[Any] = []
    # Every app of one test shares one connection and one outer transaction, rolled back
    # at the end: apps see each other's rows and never lock each other out.
    shared: dict[str, Any] = {}

    def factory(config: Mapping[str, Any] | None = None,
                plugins: Mapping[str, object] | None = None):
        base = {
            "secret_key": TEST_SECRET,
            # Never a developer's instance/ folder (its template overrides, uploads…).
            "instance_dir": str(mail_dir.parent / "instance"),
            "uploads": {"root": str(mail_dir.parent / "uploads")},
            "database": {"url": lms_database_url},
            # One worker thread: jobs share the test's single connection, one at a time.
            "jobs": {"in_process_worker": False, "worker_threads": 1, "min_backoff_ms": 10,
                     "max_backoff_ms": 50},
            "email": {"backend": "file", "file_dir": str(mail_dir)},
            "auth": {"ip_rate_limit": "1000 per minute", "account_rate_limit": "1000 per minute"},
        }
        overrides = _deep_merge(_deep_merge(base, lms_config), config or {})
        app = create_app(overrides, extra_plugins=plugins)
        app.config["TESTING"] = True
        app.test_client_class = WebClient
        lms = app.extensions["lmscore"]
        if not shared:
            shared["connection"] = lms.db.engine.connect().execution_options(
                sqlite_begin="DEFERRED"
            )
            shared["transaction"] = shared["connection"].begin()
        lms.db.session_factory.configure(
            bind=shared["connection"], join_transaction_mode="create_savepoint"
        )
        lms.db.remove()
        built.append(lms)
        return app

    yield factory
    from ..services.users import reset_rate_limits

    try:
        for lms in reversed(built):
            lms.jobs.close()
            lms.db.remove()
            reset_rate_limits(lms)
    finally:
        # Whatever failed above, the connection must not stay open mid-transaction: that
        # would lock SQLite and hang PostgreSQL for every later test.
        try:
            if shared and shared["transaction"].is_active:
                shared["transaction"].rollback()
        finally:
            if shared:
                shared["connection"].close()
            for lms in built:
                lms.db.engine.dispose()


def _empty_config(folder: Path) -> Path:
    path = folder / "lms.toml"
    path.write_text("# tests pass their settings as overrides\n", encoding="utf-8")
    return path


@pytest.fixture
def app(app_factory: Callable[..., Any]):
    return app_factory()


@pytest.fixture
def lms(app):
    return app.extensions["lmscore"]


@pytest.fixture
def db_session(app, lms):
    with app.app_context():
        yield lms.db.session


@pytest.fixture
def make_user(lms) -> Callable[..., Any]:
    from ..models import User
    from ..services.auth import hash_password

    counter = iter(range(1, 1_000_000))

    def factory(role: str = "student", **fields: Any) -> User:
        global _PASSWORD_HASH
        if _PASSWORD_HASH is None:  # argon2 is slow on purpose: hash the default once
            _PASSWORD_HASH = hash_password(DEFAULT_PASSWORD)
        n = next(counter)
        password = fields.pop("password", None)
        user = User(
            email=fields.pop("email", f"{role}{n}@example.org"),
            name=fields.pop("name", f"{role.title()} {n}"),
            role=role,
            password_hash=hash_password(password) if password else _PASSWORD_HASH,
            **fields,
        )
        session = lms.db.session
        session.add(user)
        session.commit()
        return user

    return factory


@pytest.fixture
def api_client(app) -> Callable[..., ApiClient]:
    return lambda user=None: ApiClient(app, user)


@pytest.fixture
def api_as(api_client, make_user) -> Callable[[str], ApiClient]:
    """``api_as("trainer")``: a client signed in as a new user with that role."""
    return lambda role: api_client(make_user(role))


@pytest.fixture
def web(app) -> WebClient:
    return app.test_client()


@pytest.fixture
def jobs(lms):
    return lms.jobs


@pytest.fixture
def mailbox(mail_dir: Path) -> Callable[[], list[email.message.EmailMessage]]:
    """Call it to read the emails sent so far, oldest first."""

    def read() -> list[email.message.EmailMessage]:
        files = sorted(mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
        return [
            email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files
        ]

    return read
