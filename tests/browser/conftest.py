"""Browser tests: Debian's Chromium (never a Playwright download) driving a live lmscore.

The live app has its own SQLite file database (the suite's shared-connection fixture cannot
serve another thread) and runs in a werkzeug server thread on 127.0.0.1. Skipped when
/usr/bin/chromium is absent; `make test` installs it through scripts/browser.sh.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
PASSWORD = "browser-password-1"



@pytest.fixture(autouse=True)
def _needs_chromium():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/browser.sh installs it)")


@dataclass
class LiveServer:
    url: str
    app: Any

    def make_user(self, role: str = "student", **fields: Any):
        from lmscore.models import User
        from lmscore.services.auth import hash_password

        with self.app.app_context():
            session = self.app.extensions["lmscore"].db.session
            user = User(role=role, password_hash=hash_password(PASSWORD), **fields)
            session.add(user)
            session.commit()
            session.refresh(user)
            session.expunge(user)
            return user

    def call(self, function, *args, **kwargs):
        """Run ``function(lms, session, *args)`` inside the live app."""
        with self.app.app_context():
            lms = self.app.extensions["lmscore"]
            return function(lms, lms.db.session, *args, **kwargs)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    from tracks_fixture import write_bank, write_track
    from werkzeug.serving import make_server

    import lmscore.models  # noqa: F401  (every table on Base.metadata)
    from lmscore import create_app
    from lmscore.db import Base
    from lmscore.plugins import installed_entry_points
    from lmscore.services import content

    folder = tmp_path_factory.mktemp("live")
    write_bank(write_track(folder / "content", "TT"))
    empty = folder / "lms.toml"
    empty.write_text("# the browser tests pass their settings as overrides\n")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("LMS_"):
                mp.delenv(name)
        app = create_app({
            "secret_key": "browser-test-secret-key-long-enough",
            "instance_dir": str(folder / "instance"),
            "uploads": {"root": str(folder / "uploads")},
            "database": {"url": f"sqlite:///{folder / 'live.db'}"},
            "jobs": {"in_process_worker": False},
            "email": {"backend": "file", "file_dir": str(folder / "mail")},
            "auth": {"ip_rate_limit": "1000 per minute", "account_rate_limit": "1000 per minute"},
            "plugins": {"enabled": ["content_folder"],
                        "content_folder": {"folders": [str(folder / "content")]}},
            "reviews": {"new_per_day": 10},
        }, config_path=str(empty))
    lms = app.extensions["lmscore"]
    for entry_point in installed_entry_points().values():
        entry_point.load()  # plugins' tables too
    Base.metadata.create_all(lms.db.engine)
    with app.app_context():
        assert not any(r.error for r in content.sync(lms, lms.db.session))

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.server_port}", app)
    server.shutdown()
    thread.join(timeout=10)
    lms.jobs.close()
    lms.db.remove()
    lms.db.engine.dispose()


@pytest.fixture
def browser_context(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS,
        )
        # Generous: CI runs two suites side by side on two cores.
        context.set_default_timeout(30_000)
        yield context
        context.close()


@pytest.fixture
def screenshot():
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return take


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main").get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
