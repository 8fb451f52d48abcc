"""Engine defaults: SQLite in WAL mode with foreign keys enforced; aware UTC datetimes."""

import os
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError

from lmscore.db import UTCDateTime, make_engine


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'lms.db'}")
    try:
        with engine.connect() as connection:
            pragmas = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                       for name in ("journal_mode", "foreign_keys", "busy_timeout")}
        assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000}
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(lms, db_session, make_user):
    # On SQLite too: without the pragma this insert would succeed silently.
    trainee = make_user()
    trainee.trainer_id = 999_999
    with pytest.raises(IntegrityError):
        db_session.flush()
    db_session.rollback()


def test_utc_datetimes_round_trip_aware(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'dt.db'}")
    table = Table("stamps", MetaData(), Column("id", Integer, primary_key=True),
                  Column("at", UTCDateTime()))
    table.create(engine)
    paris = timezone(timedelta(hours=1))
    try:
        with engine.begin() as connection:
            connection.execute(insert(table).values(at=datetime(2026, 1, 1, 13, tzinfo=paris)))
            stored = connection.execute(text("SELECT at FROM stamps")).scalar()
            loaded = connection.execute(select(table.c.at)).scalar()
            assert loaded == datetime(2026, 1, 1, 12, tzinfo=UTC) and loaded.tzinfo is UTC
            assert stored.startswith("2026-01-01 12:00:00")
            with pytest.raises(StatementError, match="naive datetime"):
                connection.execute(insert(table).values(at=datetime(2026, 1, 1)))
    finally:
        engine.dispose()


def test_the_suite_runs_on_the_database_it_is_given(lms):
    url = os.environ.get("LMSCORE_TEST_DATABASE_URL") or "sqlite://"
    assert lms.db.dialect == make_url(url).get_backend_name()


def test_sqlite_writers_wait_for_each_other_instead_of_failing(tmp_path):
    """Two transactions that read then write: with a deferred BEGIN the second fails at once
    with "database is locked" (its snapshot is stale); IMMEDIATE makes it wait its turn."""
    import threading
    import time

    from sqlalchemy import text

    from lmscore.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    first_inside = threading.Event()
    errors: list[Exception] = []

    def increment(hold_s: float, signal: threading.Event | None) -> None:
        try:
            with engine.begin() as conn:
                n = conn.execute(text("SELECT n FROM counter")).scalar_one()
                if signal:
                    signal.set()
                time.sleep(hold_s)
                conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    first = threading.Thread(target=increment, args=(0.3, first_inside))
    first.start()
    first_inside.wait(5)
    second = threading.Thread(target=increment, args=(0, None))
    second.start()
    first.join()
    second.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 2  # no lost update
    engine.dispose()
