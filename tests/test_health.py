"""/health/live and /health/ready: the readiness probe checks the database and the broker."""

import socket

import pytest

from lmscore.app import create_app, start_in_process_worker
from lmscore.testing.plugin import TEST_SECRET


def closed_port() -> int:
    """A local port nothing listens on (taken from the kernel, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_live(app):
    response = app.test_client().get("/health/live")
    assert (response.status_code, response.json) == (200, {"status": "ok"})


def test_ready_when_database_and_broker_answer(app):
    response = app.test_client().get("/health/ready")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_not_ready_when_the_database_is_unreachable(app_factory):
    # Not through app_factory: it opens a connection for the per-test transaction at once.
    app = create_app({
        "secret_key": TEST_SECRET,
        "database": {"url": f"postgresql://lms@127.0.0.1:{closed_port()}/lms"},
        "jobs": {"in_process_worker": False},
    })
    try:
        response = app.test_client().get("/health/ready")
    finally:
        app.extensions["lmscore"].close()
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["checks"] == {"database": "error: OperationalError", "broker": "ok"}


def test_not_ready_when_the_redis_broker_is_unreachable(app_factory):
    app = app_factory({"jobs": {"broker": f"redis://127.0.0.1:{closed_port()}/0"}})
    response = app.test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "ok", "broker": "error: ConnectionError"}


def test_ready_with_the_redis_broker(app_factory, redis_url):
    app = app_factory({"jobs": {"broker": redis_url}})
    response = app.test_client().get("/health/ready")
    assert response.status_code == 200, response.json


@pytest.mark.lms_config({"jobs": {"in_process_worker": True}})
def test_not_ready_until_the_in_process_worker_runs(app):
    client = app.test_client()
    assert client.get("/health/ready").json["checks"]["broker"] == "error: RuntimeError"
    start_in_process_worker(app)
    assert client.get("/health/ready").status_code == 200
