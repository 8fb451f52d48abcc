"""`lms worker` for real: a separate process taking jobs from Redis (LMSCORE_TEST_REDIS_URL)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from lmscore.app import create_app
from lmscore.events import UserRegistered
from lmscore.mail import SEND_JOB
from lmscore.migrations import upgrade
from lmscore.models import OutboxEvent, User
from lmscore.services.events import emit
from lmscore.testing.plugin import TEST_SECRET

LMS = str(Path(sys.executable).with_name("lms"))


def wait_for(condition, timeout_s: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def config_file(tmp_path: Path, redis_url: str, scratch_database) -> Path:
    path = tmp_path / "lms.toml"
    # json.dumps quotes strings the way TOML does for these plain values.
    path.write_text(
        f"secret_key = {json.dumps(TEST_SECRET)}\n"
        f"[database]\nurl = {json.dumps(scratch_database())}\n"
        f"[jobs]\nbroker = {json.dumps(redis_url)}\nworker_threads = 2\n"
        f"[email]\nbackend = \"file\"\nfile_dir = {json.dumps(str(tmp_path / 'mail'))}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def lms_env(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The worker's environment; this process gets the same (no stray LMS_* overrides)."""
    for name in [name for name in os.environ if name.startswith("LMS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LMS_CONFIG", str(config_file))
    return dict(os.environ)


def test_lms_worker_runs_jobs_from_redis(config_file: Path, lms_env, tmp_path: Path):
    app = create_app(config_path=str(config_file))
    lms = app.extensions["lmscore"]
    worker = None
    try:
        upgrade(lms)
        worker = subprocess.Popen([LMS, "worker"], env=lms_env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        banner = worker.stdout.readline()
        assert banner.startswith("lms worker:") and "RedisBroker" in banner, banner

        session = lms.db.session
        user = User(email="ann@example.org", name="Ann", password_hash="not-a-real-hash")
        session.add(user)
        session.flush()
        row = emit(session, UserRegistered(user_id=user.id, email=user.email,
                                           display_name=user.name))
        session.commit()  # enqueues the delivery on Redis
        lms.jobs.enqueue(SEND_JOB, to="ann@example.org", subject="Hello", text="From Redis")

        def delivered() -> bool:
            status = lms.db.session.scalars(
                select(OutboxEvent.status).where(OutboxEvent.id == row.id)
            ).one()
            # End the read at once: an open SQLite transaction holds the write lock (BEGIN
            # IMMEDIATE) and would keep the worker from writing between polls.
            lms.db.remove()
            return status == "delivered"

        wait_for(delivered, what="the worker to deliver the event")
        mails = wait_for(lambda: list((tmp_path / "mail").glob("*.eml")),
                         what="the worker to send the email")
        assert "Subject: Hello" in mails[0].read_text(encoding="utf-8")
    finally:
        lms.close()
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert "lms worker: stopping" in output
