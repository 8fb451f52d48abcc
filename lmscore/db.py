"""Engine and sessions. Plain SQLAlchemy 2.0 (no Flask): web requests, jobs and the CLI share
one thread-scoped session per platform, removed at the end of each unit of work."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

from .errors import DatabaseBusy

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: The largest id an id column holds: they are INTEGER, 32 bits on PostgreSQL. Ids from
#: clients are checked against it, so a bigger one is "not found", not a driver overflow.
MAX_ID = 2**31 - 1


def known_id(value: int | None) -> int:
    """``value`` when it can be a row id, else 0, which no row has: a number typed into a form
    beyond the column's range must find nothing, not make the driver overflow."""
    return value if value is not None and 0 < value <= MAX_ID else 0

#: A pooled connection idle longer than this is pinged before use; one used more recently is
#: trusted (a ping per checkout is a round trip on every request). A server restart between
#: two requests then fails at most one request per pooled connection, which SQLAlchemy answers
#: by discarding the pool.
PING_AFTER_IDLE_S = 5.0

#: How long a SQLite writer waits for the write lock before its request is answered 503.
SQLITE_BUSY_TIMEOUT_MS = 30_000


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; lmscore stores aware UTC datetimes only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not pysqlite, begin transactions, so SAVEPOINTs work as documented.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


#: Settings of the PostgreSQL sessions that serve read-only units of work, sent when they
#: connect (no round trip). Writes are refused, so a view marked read-only cannot write by
#: mistake. And each prepared statement is planned once: the hot reads are index-backed
#: statements whose best plan does not depend on the values bound (a learner id, the time),
#: yet PostgreSQL's default keeps planning them anew whenever its generic estimate looks dearer,
#: which for the review queue cost more (0.5 ms) than running it (0.4 ms).
READ_ONLY_SESSION = {"default_transaction_read_only": "on",
                     "plan_cache_mode": "force_generic_plan"}


#: A run of digits that may be an integer beyond 64 bits, which orjson would read as a float.
_LONG_DIGITS = {str: re.compile(r"[0-9]{19}"), bytes: re.compile(rb"[0-9]{19}")}


def json_loads(data: str | bytes):
    """JSON columns as the database returns them, decoded by orjson: several times faster than
    the standard library on the small documents the hottest reads return by the dozen (a
    review card's options and tags). The standard library reads what orjson refuses (NaN, a
    lone surrogate) or would change: an integer beyond 64 bits, which orjson makes a float."""
    if not _LONG_DIGITS[str if isinstance(data, str) else bytes].search(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def make_engine(url: str, *, echo: bool = False, pool_size: int = 5,
                read_only: bool = False) -> Engine:
    """An engine for ``url``. ``read_only`` (PostgreSQL only) makes one whose connections run
    each statement on its own, without a transaction, in ``READ_ONLY_SESSION``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed, echo=echo, connect_args={"check_same_thread": False},
            json_deserializer=json_loads,
        )
        event.listen(engine, "connect", _sqlite_connect)
        # IMMEDIATE takes the write lock up front: concurrent writers then wait (busy_timeout)
        # instead of failing at once when a deferred read lock cannot be upgraded. SQLite is
        # the small embedded default; PostgreSQL is the database for concurrency.
        # A connection may ask for another mode with the execution option ``sqlite_begin``
        # (the test harness's long outer transaction uses DEFERRED so that other connections,
        # e.g. migrations, can still write until the test itself writes).
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    options = {}
    if read_only:
        # Added to any ``options`` the URL carries (they are libpq's, e.g. a search_path).
        settings = " ".join(f"-c {name}={value}" for name, value in READ_ONLY_SESSION.items())
        options = {"isolation_level": "AUTOCOMMIT", "connect_args": {
            "options": " ".join(filter(None, (parsed.query.get("options"), settings)))}}
    engine = create_engine(parsed, echo=echo, pool_size=pool_size, json_deserializer=json_loads,
                           **options)
    event.listen(engine, "connect", _note_checkin)
    event.listen(engine, "checkin", _note_checkin)
    _ping_when_idle(engine)
    return engine


def _sqlite_begin(conn) -> None:
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return  # a read-only unit of work: each statement on its own
    conn.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', 'IMMEDIATE')}")


def _note_checkin(_dbapi_connection, record) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_when_idle(engine: Engine) -> None:
    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
        idle = time.monotonic() - record.info.get("checked_in_at", float("-inf"))
        if idle <= PING_AFTER_IDLE_S:
            return
        try:
            # The dialect's own ping, as pool_pre_ping sends it: outside any transaction, so
            # the connection is left as it was (a read-only unit of work may follow).
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (SQLAlchemy's protocol).
            raise DisconnectionError("a pooled connection did not answer") from exc

    event.listen(engine, "checkout", ping_if_idle)


def as_busy(error: BaseException) -> DatabaseBusy | None:
    """SQLite's "database is locked" (the write lock stayed taken past the busy timeout) as a
    retryable error for the client, rather than a failure of ours."""
    if isinstance(error, OperationalError) and "database is locked" in str(error.orig):
        return DatabaseBusy("The database is busy; please try again in a moment.",
                            retry_after=1)
    return None


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5):
        self.engine = make_engine(url, echo=echo, pool_size=pool_size)
        #: PostgreSQL: the pool ``read_only`` units of work use (SQLite needs no other).
        self.read_engine = (make_engine(url, echo=echo, pool_size=pool_size, read_only=True)
                            if self.dialect == "postgresql" else None)
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.scoped = scoped_session(self.session_factory)

    @property
    def session(self) -> Session:
        """The current thread's session."""
        return self.scoped()

    def remove(self) -> None:
        self.scoped.remove()

    def read_only(self) -> None:
        """Run the current unit of work without a transaction, for hot requests that only
        read; call it before the first statement. On PostgreSQL it runs on ``read_engine``'s
        connections: no ``BEGIN``/``ROLLBACK`` round trips, writes refused, statements planned
        once (``READ_ONLY_SESSION``). On SQLite it takes no write lock."""
        session = self.scoped()
        if isinstance(session.get_bind(), Connection):
            return  # bound to a caller's connection (the test harness): its transaction rules
        if self.read_engine is not None:
            session.bind = self.read_engine  # this unit's session only: it is removed after
        else:
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})

    def read_mostly(self) -> None:
        """The current unit of work mostly reads (a page view). On SQLite it begins
        ``DEFERRED``: it reads a snapshot without taking the write lock, so page views run side
        by side and never wait for writers. A write in it takes the lock then, and fails with
        "database is locked" (``as_busy``) if another write committed since it began reading;
        the web UI then runs that page view once more, in an ``IMMEDIATE`` unit
        (``lmscore.web.read_again``). Call it before the first statement; elsewhere it changes
        nothing."""
        session = self.scoped()
        if self.dialect != "sqlite" or isinstance(session.get_bind(), Connection):
            return  # PostgreSQL's reads never block; the test harness has its own rules
        session.connection(execution_options={"sqlite_begin": "DEFERRED"})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.scoped.remove()
        self.engine.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()
