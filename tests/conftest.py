"""Core tests use the fixtures of lmscore.testing (loaded through its pytest11 entry point)."""

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

# Test helpers shared by several test modules (e.g. tracks_fixture).
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def redis_url() -> str:
    """The Redis of ``make test`` (LMSCORE_TEST_REDIS_URL); the test is skipped without it."""
    url = os.environ.get("LMSCORE_TEST_REDIS_URL")
    if not url:
        pytest.skip("LMSCORE_TEST_REDIS_URL is not set (make test sets it)")
    return url


@pytest.fixture
def scratch_database(lms_database_url: str, tmp_path) -> Iterator[Callable[..., str]]:
    """``scratch_database(backend=None)``: the URL of a new, empty database, dropped after the
    test; ``backend`` is "sqlite" or "postgresql" (default: the test session's). PostgreSQL
    ones are created on the server of LMSCORE_TEST_DATABASE_URL; skipped without one."""
    import psycopg

    session_url = make_url(lms_database_url)
    created: list[str] = []

    def admin() -> psycopg.Connection:
        url = session_url.set(drivername="postgresql")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)

    def create(backend: str | None = None) -> str:
        backend = backend or session_url.get_backend_name()
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'scratch-{uuid.uuid4().hex[:8]}.db'}"
        if session_url.get_backend_name() != "postgresql":
            pytest.skip("needs LMSCORE_TEST_DATABASE_URL=postgresql://… (make test sets it)")
        name = f"lms_scratch_{uuid.uuid4().hex[:12]}"
        with admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return session_url.set(database=name).render_as_string(hide_password=False)

    yield create
    if created:
        with admin() as connection:
            for name in created:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
