"""Processes killed with SIGKILL at the worst moment lose nothing and double nothing:

* an `lms worker` killed in the middle of a job: a restarted worker runs the job again (the
  Redis broker requeues what a dead worker had started) and its effect happens exactly once
  (the effect and the job's "done" mark commit in one transaction);
* a gunicorn web process killed in the middle of a bank import: none of the rows the import
  had already written survive (one transaction per request).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from lmscore.events import UserRegistered
from lmscore.models import BankNode, Item, OutboxEvent, QuestionBank, User
from lmscore.services.auth import make_access_token
from lmscore.services.events import emit

from .conftest import LMS, config_toml, free_port, wait_for, wait_for_port

PROBE_PLUGIN = '''
"""A listener whose effect is a counter, so running twice shows; it blocks until released."""
import os
import time
from pathlib import Path

from sqlalchemy import update

from lmscore import hookimpl
from lmscore.models import User


@hookimpl
def lms_on_user_registered(lms, event):
    folder = Path(os.environ["CRASH_PROBE_DIR"])
    session = lms.db.session
    session.execute(update(User).where(User.id == event.user_id)
                    .values(failed_logins=User.failed_logins + 1))
    session.flush()  # written inside the delivery's transaction, not committed yet
    with open(folder / "entered", "a") as log:
        log.write(f"{os.getpid()}\\n")
    while not (folder / "release").exists():
        time.sleep(0.05)
'''


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, scratch_database) -> str:
    return scratch_database(request.param)


def _read(lms, statement):
    """One read on its own connection, ended at once (a SQLite read must not hold the write
    lock the worker needs)."""
    with lms.db.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        return conn.execute(statement).scalar()


def _install_probe(folder: Path) -> Path:
    """The probe as an installed plugin: a package and its dist-info on a sys.path entry."""
    site = folder / "site"
    (site / "lms_crash_probe").mkdir(parents=True)
    (site / "lms_crash_probe" / "__init__.py").write_text(PROBE_PLUGIN, encoding="utf-8")
    info = site / "lms_crash_probe-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lms-crash-probe\n"
                                   "Version: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[lmscore.plugins]\ncrash_probe = lms_crash_probe\n",
                                           encoding="utf-8")
    return site


def _start_worker(config: Path, env: dict[str, str]) -> subprocess.Popen:
    worker = subprocess.Popen([LMS, "worker", "--no-periodic"],
                              env={**env, "LMS_CONFIG": str(config)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = worker.stdout.readline()
    assert banner.startswith("lms worker:"), banner + worker.stdout.read()
    return worker


def test_a_job_killed_midway_runs_again_and_takes_effect_once(
        database_url, redis_url, live_app, clean_environ, tmp_path: Path):
    app = live_app(database_url, jobs={"broker": redis_url})
    lms = app.extensions["lmscore"]
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    config = tmp_path / "worker.toml"
    config.write_text(config_toml(database_url, tmp_path, broker=redis_url,
                                  plugins=["crash_probe"], jobs={"requeue_after_s": 1}),
                      encoding="utf-8")
    env = {**clean_environ, "CRASH_PROBE_DIR": str(probe_dir),
           "PYTHONPATH": os.pathsep.join([str(_install_probe(tmp_path)),
                                          os.environ.get("PYTHONPATH", "")])}
    entered = probe_dir / "entered"
    workers = [_start_worker(config, env)]
    try:
        with app.app_context():
            session = lms.db.session
            user = User(email="ann@example.org", name="Ann", password_hash="-")
            session.add(user)
            session.flush()
            event = emit(session, UserRegistered(user_id=user.id, email=user.email,
                                                 display_name=user.name))
            session.commit()  # enqueues the delivery on Redis
            user_id, event_id = user.id, event.id
        wait_for(entered.exists, what="the worker to start the job")

        workers[0].send_signal(signal.SIGKILL)  # mid-job: its write is not committed
        workers[0].wait(timeout=10)
        failed_logins = select(User.failed_logins).where(User.id == user_id)
        status = select(OutboxEvent.status).where(OutboxEvent.id == event_id)
        assert _read(lms, failed_logins) == 0
        assert _read(lms, status) == "pending"

        (probe_dir / "release").touch()
        workers.append(_start_worker(config, env))
        wait_for(lambda: _read(lms, status) == "delivered", timeout_s=60,
                 what="a new worker to run the killed job again")
        assert _read(lms, failed_logins) == 1
        runs = entered.read_text(encoding="utf-8").split()
        assert runs == [str(workers[0].pid), str(workers[1].pid)]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.communicate(timeout=30)
    assert workers[1].returncode == 0


def _bank_file(path: Path, items: int) -> Path:
    path.write_text(json.dumps([
        {"id": f"crash-{n:06d}", "type": "mcq_single", "question": f"Question {n}?",
         "options": {"A": f"yes {n}", "B": f"no {n}"}, "answer": "A",
         "explanation": "Because." * 20, "tags": ["crash"]} for n in range(items)
    ]), encoding="utf-8")
    return path


def _post_file(port: int, path: str, token: str, file: Path, answers: list) -> None:
    """POST ``file`` as the multipart field ``file``; the status (or the error) goes into
    ``answers``."""
    boundary = "crash-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{file.name}\"\r\nContent-Type: application/json\r\n\r\n").encode()
    body += file.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", path, body=body, headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        answers.append(conn.getresponse().status)
    except (OSError, http.client.HTTPException) as exc:
        answers.append(exc)
    finally:
        conn.close()


def _writing(lms, database_url: str) -> bool:
    """Whether another connection has an import transaction with writes in flight."""
    if lms.db.dialect == "postgresql":
        return bool(_read(lms, text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL")))
    # SQLite writes a transaction's pages to the WAL as its cache fills, before it commits.
    wal = Path(lms.db.engine.url.database + "-wal")
    return wal.exists() and wal.stat().st_size > 4 * 1024 * 1024


def test_a_web_process_killed_mid_import_leaves_no_half_written_rows(
        database_url, live_app, clean_environ, tmp_path: Path):
    app = live_app(database_url)
    lms = app.extensions["lmscore"]
    with app.app_context():
        admin = User(email="admin@example.org", name="Admin", role="admin", password_hash="-")
        lms.db.session.add(admin)
        lms.db.session.commit()
        token = make_access_token(lms, admin)
    config = tmp_path / "web.toml"
    config.write_text(config_toml(database_url, tmp_path), encoding="utf-8")
    port = free_port()
    # Its own session: SIGKILL goes to the master and its worker alike.
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "lmscore.wsgi:app", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--timeout", "120", "--log-level", "warning"],
        env={**clean_environ, "LMS_CONFIG": str(config)}, cwd=tmp_path,
        start_new_session=True)
    answers: list[object] = []
    try:
        wait_for_port(port, server)
        bank = _bank_file(tmp_path / "crash__import__big__items.json", 40_000)
        upload = threading.Thread(target=_post_file, daemon=True, args=(
            port, "/api/v1/banks/CRASH/import", token, bank, answers))
        upload.start()
        wait_for(lambda: _writing(lms, database_url), timeout_s=60,
                 what="the import to start writing")
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        upload.join(timeout=30)
        assert answers and answers[0] != 200, "the import finished before the kill"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
    for table in (QuestionBank, BankNode, Item):
        assert _read(lms, select(func.count()).select_from(table)) == 0, table.__tablename__
    # and the database is whole: the next import of the same file goes through
    with app.app_context():
        from lmscore.importers.service import upload as import_upload

        small = _bank_file(tmp_path / "crash__import__small__items.json", 10)
        with small.open("rb") as stream:
            report = import_upload(lms.db.session, admin, "CRASH", (stream, small.name))
    assert report.imported == 10
