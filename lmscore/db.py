"""Engine and sessions. Plain SQLAlchemy 2.0 (no Flask): web requests, jobs and the CLI share
one thread-scoped session per platform, removed at the end of each unit of work."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

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
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed, echo=echo, connect_args={"check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_connect)
        # IMMEDIATE takes the write lock up front: concurrent writers then wait (busy_timeout)
        # instead of failing at once when a deferred read lock cannot be upgraded. SQLite is
        # the small embedded default; PostgreSQL is the database for concurrency.
        # A connection may ask for another mode with the execution option ``sqlite_begin``
        # (the test harness's long outer transaction uses DEFERRED so that other connections,
        # e.g. migrations, can still write until the test itself writes).
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(
            f"BEGIN {conn.get_execution_options().get('sqlite_begin', 'IMMEDIATE')}"))
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, echo=echo, pool_size=pool_size, pool_pre_ping=True)


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5):
        self.engine = make_engine(url, echo=echo, pool_size=pool_size)
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.scoped = scoped_session(self.session_factory)

    @property
    def session(self) -> Session:
        """The current thread's session."""
        return self.scoped()

    def remove(self) -> None:
        self.scoped.remove()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.scoped.remove()
        self.engine.dispose()
