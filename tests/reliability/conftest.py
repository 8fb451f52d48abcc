"""Reliability tests run against apps that really commit (no rolled-back test transaction):
each gets its own scratch database, migrated from empty, and may be served over HTTP by a
real server on 127.0.0.1 so concurrent requests run on concurrent connections."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from lmscore.app import create_app
from lmscore.migrations import upgrade
from lmscore.testing.plugin import TEST_SECRET

LMS = str(Path(sys.executable).with_name("lms"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout_s: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_port(port: int, process=None, timeout_s: float = 30) -> None:
    def listening() -> bool:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_for(listening, timeout_s, f"127.0.0.1:{port}")


def config_toml(database_url: str, folder: Path, *, broker: str = "inprocess",
                plugins: list[str] | None = None, jobs: dict[str, Any] | None = None) -> str:
    """An lms.toml for a process of its own (``lms worker``, gunicorn)."""
    # json.dumps quotes strings the way TOML does for these plain values.
    job_lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in (jobs or {}).items())
    return (f"secret_key = {json.dumps(TEST_SECRET)}\n"
            f"instance_dir = {json.dumps(str(folder / 'instance'))}\n"
            f"[database]\nurl = {json.dumps(database_url)}\n"
            f"[jobs]\nbroker = {json.dumps(broker)}\n{job_lines}"
            f"[email]\nbackend = \"file\"\nfile_dir = {json.dumps(str(folder / 'mail'))}\n"
            "[auth]\nip_rate_limit = \"100000 per minute\"\n"
            "account_rate_limit = \"100000 per minute\"\n"
            f"[plugins]\nenabled = {json.dumps(plugins or [])}\n")


@pytest.fixture
def clean_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No developer LMS_* settings leak in; LMS_CONFIG names an empty file."""
    for name in [name for name in os.environ if name.startswith("LMS_")]:
        monkeypatch.delenv(name)
    empty = tmp_path / "empty.toml"
    empty.write_text("# settings come as overrides\n", encoding="utf-8")
    monkeypatch.setenv("LMS_CONFIG", str(empty))
    return dict(os.environ)


@pytest.fixture
def live_app(clean_environ, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``live_app(database_url, **overrides)``: an app on that (empty) database, migrated to
    heads, whose sessions commit for real. Closed after the test."""
    built = []

    def factory(database_url: str, **overrides: Any):
        config = {
            "secret_key": TEST_SECRET,
            "instance_dir": str(tmp_path / "instance"),
            "uploads": {"root": str(tmp_path / "uploads")},
            "database": {"url": database_url},
            "email": {"backend": "file", "file_dir": str(tmp_path / "mail")},
            "auth": {"ip_rate_limit": "100000 per minute",
                     "account_rate_limit": "100000 per minute"},
            **overrides,
        }
        app = create_app(config)
        lms = app.extensions["lmscore"]
        built.append(lms)
        upgrade(lms)
        return app

    yield factory
    for lms in reversed(built):
        lms.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """``serve(app)``: the app behind a threaded werkzeug server on 127.0.0.1; its base URL."""
    servers = []

    def start(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
