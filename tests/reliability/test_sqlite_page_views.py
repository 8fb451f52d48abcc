"""Page views on SQLite read a snapshot without the write lock (``Database.read_mostly``):
they never wait for writers, and one that writes after another write committed runs once more
instead of failing."""

from __future__ import annotations

import uuid

import pytest
from flask import Blueprint
from sqlalchemy import func, select, text, update

from lmscore.models import User


@pytest.fixture
def app(scratch_database, live_app):
    app = live_app(scratch_database("sqlite"))
    lms = app.extensions["lmscore"]
    with app.app_context():
        lms.db.session.add(User(email="reader@example.org", name="Reader", password_hash="-"))
        lms.db.session.commit()
    return app


def write_elsewhere(lms, name: str) -> None:
    """Another connection commits a write, waiting at most 0.2 s for the lock."""
    with lms.db.engine.connect().execution_options(sqlite_begin="DEFERRED") as other:
        other.exec_driver_sql("PRAGMA busy_timeout=200")
        other.execute(update(User).values(name=name))
        other.commit()


def test_a_page_view_does_not_wait_for_a_writer(app):
    lms = app.extensions["lmscore"]
    with lms.db.engine.connect() as writer:
        writer.execute(text("UPDATE users SET name = 'Writing'"))  # holds the write lock
        assert app.test_client().get("/tracks").status_code == 200
        writer.rollback()


def test_a_page_view_writing_after_another_write_runs_once_more(app):
    lms = app.extensions["lmscore"]
    runs = []
    probe = Blueprint("probe", __name__)

    @probe.get("/probe")
    def read_then_write():
        session = lms.db.session
        runs.append(session.scalar(select(func.count()).select_from(User)))  # the snapshot
        if len(runs) == 1:
            # This page view holds no lock: another write gets in, and the snapshot goes stale.
            write_elsewhere(lms, "Changed elsewhere")
        session.execute(update(User).values(timezone="Europe/Paris"))
        session.commit()
        return "written"

    app.register_blueprint(probe)
    response = app.test_client().get("/probe")
    assert (response.status_code, response.text) == (200, "written")
    assert runs == [1, 1]
    with app.app_context():
        user = lms.db.session.scalar(select(User))
        assert (user.name, user.timezone) == ("Changed elsewhere", "Europe/Paris")


def test_a_second_conflict_is_a_busy_answer_and_writes_nothing(app):
    lms = app.extensions["lmscore"]
    probe = Blueprint("probe", __name__)

    @probe.get("/probe")
    def always_conflicting():
        session = lms.db.session
        session.scalar(select(func.count()).select_from(User))
        # The second run holds the write lock from its start: this other writer times out.
        write_elsewhere(lms, uuid.uuid4().hex)
        session.execute(update(User).values(timezone="Europe/Paris"))
        session.commit()
        return "written"

    app.register_blueprint(probe)
    response = app.test_client().get("/probe")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    with app.app_context():
        assert lms.db.session.scalar(select(User.timezone)) != "Europe/Paris"
