"""Engine defaults: SQLite in WAL mode with foreign keys enforced; aware UTC datetimes."""

import os
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError

from lmscore.db import SQLITE_BUSY_TIMEOUT_MS, UTCDateTime, as_busy, make_engine
from lmscore.errors import DatabaseBusy


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'lms.db'}")
    try:
        with engine.connect() as connection:
            pragmas = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                       for name in ("journal_mode", "foreign_keys", "busy_timeout")}
        assert pragmas == {"journal_mode": "wal", "foreign_keys": 1,
                           "busy_timeout": SQLITE_BUSY_TIMEOUT_MS}
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


@pytest.mark.parametrize("document", [
    {"options": {"A": "ä €", "B": "x"}, "tags": ["t"]},
    {"value": 2**70 + 1, "low": -(2**63) - 1},  # beyond 64 bits: orjson would make floats
    {"value": 2**63 - 1, "id": "1234567890123456789012"},
    {"text": "\ud800"},  # a lone surrogate, which json.dumps writes as an escape
])
def test_json_columns_read_back_what_was_written(lms, db_session, document):
    """JSON columns are decoded by orjson, the standard library taking what orjson refuses,
    on both databases."""
    from lmscore.models import BankNode, Item, QuestionBank

    bank = QuestionBank(code="JSONRT", name="JSON round trip")
    db_session.add(bank)
    db_session.flush()
    facet = BankNode(bank_id=bank.id, level=0, code="f", name="f", path="f")
    db_session.add(facet)
    db_session.flush()
    item = Item(bank_id=bank.id, facet_id=facet.id, external_id="json-rt", type="short_answer",
                prompt="?", answer=document, difficulty=1, tags=[], content_hash="x")
    db_session.add(item)
    db_session.flush()
    db_session.expire_all()
    assert db_session.scalar(select(Item.answer).where(Item.id == item.id)) == document


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


def test_a_writer_that_waited_past_the_busy_timeout_is_told_to_retry(tmp_path):
    """The lock wait has a limit; past it the request is a retryable 503, not our failure."""
    from sqlalchemy.exc import OperationalError

    engine = make_engine(f"sqlite:///{tmp_path / 'busy.db'}")
    try:
        with engine.begin() as holder:
            holder.execute(text("CREATE TABLE t (n INTEGER)"))
            with engine.connect() as waiter:
                waiter.connection.driver_connection.execute("PRAGMA busy_timeout=50")
                with pytest.raises(OperationalError) as raised:
                    waiter.execute(text("INSERT INTO t VALUES (1)"))
        busy = as_busy(raised.value)
        assert isinstance(busy, DatabaseBusy)
        assert (busy.status, busy.code, busy.retry_after) == (503, "busy", 1)
        assert as_busy(ValueError("database is locked")) is None
    finally:
        engine.dispose()


def _in_transaction(session) -> bool:
    """Whether the database (not SQLAlchemy's bookkeeping) has a transaction open."""
    dbapi = session.connection().connection.dbapi_connection
    if hasattr(dbapi, "info"):  # psycopg
        from psycopg.pq import TransactionStatus

        return dbapi.info.transaction_status != TransactionStatus.IDLE
    return dbapi.in_transaction


@pytest.mark.parametrize("ping_after_idle_s", [3600.0, 0.0])
def test_a_read_only_unit_of_work_opens_no_transaction(lms_database_url, monkeypatch,
                                                       ping_after_idle_s):
    """No BEGIN/ROLLBACK round trips (and on SQLite no write lock) for hot reads, also right
    after an idle connection's ping; the next unit of work on the same pooled connection is
    transactional again."""
    import lmscore.db
    from lmscore.db import Database

    monkeypatch.setattr(lmscore.db, "PING_AFTER_IDLE_S", ping_after_idle_s)
    db = Database(lms_database_url, pool_size=1)
    try:
        db.read_only()
        assert db.session.execute(text("SELECT 1")).scalar() == 1
        assert not _in_transaction(db.session)
        db.remove()
        assert db.session.execute(text("SELECT 1")).scalar() == 1
        assert _in_transaction(db.session)
    finally:
        db.dispose()


@pytest.mark.skipif(not os.environ.get("LMSCORE_TEST_DATABASE_URL"),
                    reason="PostgreSQL's session settings")
def test_a_read_only_unit_of_work_cannot_write_and_plans_once(lms_database_url):
    """PostgreSQL runs read-only units of work on connections that refuse writes and keep a
    prepared statement's generic plan; the next unit of work is back on the ordinary pool."""
    from sqlalchemy.exc import InternalError

    from lmscore.db import READ_ONLY_SESSION, Database

    db = Database(lms_database_url, pool_size=1)
    settings = text("SELECT current_setting('default_transaction_read_only'), "
                    "current_setting('plan_cache_mode')")
    try:
        db.read_only()
        assert tuple(db.session.execute(settings).one()) == tuple(READ_ONLY_SESSION.values())
        with pytest.raises(InternalError, match="read-only transaction"):
            db.session.execute(text("CREATE TEMPORARY TABLE scratch (n integer)"))
        db.remove()
        assert tuple(db.session.execute(settings).one()) == ("off", "auto")
        db.session.execute(text("CREATE TEMPORARY TABLE scratch (n integer)"))
        db.session.rollback()
    finally:
        db.remove()
        db.dispose()


@pytest.mark.skipif(not os.environ.get("LMSCORE_TEST_DATABASE_URL"),
                    reason="libpq options: PostgreSQL")
def test_a_read_only_engine_keeps_the_urls_own_options(lms_database_url):
    url = make_url(lms_database_url)
    engine = make_engine(url.update_query_dict({"options": "-c application_name=lms-test"})
                         .render_as_string(hide_password=False), read_only=True)
    try:
        with engine.connect() as connection:
            names = connection.exec_driver_sql(
                "SELECT current_setting('application_name'), "
                "current_setting('plan_cache_mode')").one()
        assert tuple(names) == ("lms-test", "force_generic_plan")
    finally:
        engine.dispose()


@pytest.mark.skipif(not os.environ.get("LMSCORE_TEST_DATABASE_URL"),
                    reason="a server connection to cut: PostgreSQL")
def test_a_connection_idle_in_the_pool_is_pinged_before_use(lms_database_url, monkeypatch):
    """A pooled connection the server dropped is replaced when it sat idle past
    PING_AFTER_IDLE_S; one used just before is trusted (no ping per request)."""
    from sqlalchemy.exc import OperationalError

    import lmscore.db

    engine = make_engine(lms_database_url, pool_size=1)

    def cut_the_pooled_connection() -> None:
        with engine.connect() as pooled:
            pid = pooled.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        # Autocommit: pg_stat_activity is read anew by each statement, not once per transaction.
        with make_engine(lms_database_url).execution_options(
                isolation_level="AUTOCOMMIT").connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
            gone = f"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = {pid}"
            deadline = time.monotonic() + 10
            while not other.exec_driver_sql(gone).scalar() and time.monotonic() < deadline:
                time.sleep(0.01)

    try:
        monkeypatch.setattr(lmscore.db, "PING_AFTER_IDLE_S", 3600.0)
        cut_the_pooled_connection()
        with pytest.raises(OperationalError), engine.connect() as trusted:
            trusted.exec_driver_sql("SELECT 1")
        monkeypatch.setattr(lmscore.db, "PING_AFTER_IDLE_S", 0.0)
        cut_the_pooled_connection()
        with engine.connect() as pinged:
            assert pinged.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()
