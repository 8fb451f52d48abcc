"""``lms db backup`` / ``lms db restore``: a consistent copy of the whole database, taken while
the site runs, and its restoration.

Each backend uses its own native, faithful format rather than a portable row dump, so types,
sequences, indexes and constraints come back exactly:

* SQLite: the online backup API (``sqlite3.Connection.backup``), page by page; the backup is
  itself a SQLite database file. Restoring copies it back over the live database the same way.
* PostgreSQL: ``pg_dump --format=custom`` (one consistent snapshot) and ``pg_restore --clean
  --single-transaction`` (all or nothing). The client tools come from Debian's
  ``postgresql-client``; the newest installed version is used, and it must be at least the
  server's.

Progress is reported as (done, total): pages for SQLite, tables for PostgreSQL.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import URL

from ..errors import LmsError

if TYPE_CHECKING:
    from ..platform import Platform

Progress = Callable[[int, int], None]

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
#: SQLite pages copied per backup step: small enough that writers are never held up long.
SQLITE_PAGES_PER_STEP = 1024
#: The lines pg_dump / pg_restore --verbose print as they reach each table's rows.
_PG_TABLE_LINE = re.compile(r"(dumping contents of table|processing data for table) ")


class BackupError(LmsError):
    code = "backup_failed"


def _no_progress(done: int, total: int) -> None:
    return None


def backup(lms: Platform, destination: Path, on_progress: Progress | None = None) -> None:
    """Write a backup of the configured database to ``destination`` (a new file)."""
    if destination.exists():
        raise BackupError(f"{destination} exists: choose a new file name.")
    # Written next to the destination, then renamed: a failed backup leaves no partial file.
    partial = destination.with_name(f".{destination.name}.partial")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        # Only the owner may read it: it holds password hashes and every learner's data.
        partial.unlink(missing_ok=True)
        partial.touch(mode=0o600)
    except OSError as exc:
        raise BackupError(f"cannot write the backup {destination}: {exc}") from None
    try:
        if lms.db.dialect == "sqlite":
            _sqlite_copy(_sqlite_path(lms), partial, on_progress or _no_progress)
        else:
            _pg_dump(lms, partial, on_progress or _no_progress)
        partial.replace(destination)
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"the backup to {destination} failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)


def restore(lms: Platform, source: Path, on_progress: Progress | None = None) -> None:
    """Replace the configured database's contents with the backup ``source``."""
    kind = backup_kind(source)
    if kind != lms.db.dialect:
        raise BackupError(f"{source} is a {kind} backup; the configured database is "
                          f"{lms.db.dialect}.")
    # Pooled connections would keep reading the old pages (SQLite) or hold locks that
    # pg_restore's DROPs wait for.
    lms.db.dispose()
    if kind == "sqlite":
        _sqlite_check(source)
        _sqlite_copy(source, _sqlite_path(lms), on_progress or _no_progress)
    else:
        _pg_restore(lms, source, on_progress or _no_progress)


def backup_kind(path: Path) -> str:
    """"sqlite" or "postgresql", from the file's first bytes."""
    with open(path, "rb") as file:
        head = file.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_CUSTOM_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is not an lmscore backup (neither a SQLite database nor a "
                      "pg_dump custom-format archive).")


# -- SQLite --------------------------------------------------------------------------------------


def _sqlite_path(lms: Platform) -> Path:
    database = lms.db.engine.url.database
    if not database or database == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up or restored.")
    return Path(database)


def _sqlite_copy(source: Path, target: Path, on_progress: Progress) -> None:
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        dst.execute("PRAGMA busy_timeout=30000")
        src.backup(dst, pages=SQLITE_PAGES_PER_STEP,
                   progress=lambda _status, remaining, total: on_progress(total - remaining,
                                                                          total))


def _sqlite_check(source: Path) -> None:
    """Refuse a file that is not a readable lmscore database before it replaces the live one."""
    try:
        with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as conn:
            problem = conn.execute("PRAGMA quick_check").fetchone()[0]
            has_schema = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                      "AND name = 'alembic_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} cannot be read: {exc}") from None
    if problem != "ok":
        raise BackupError(f"{source} is damaged: {problem}")
    if not has_schema:
        raise BackupError(f"{source} holds no lmscore schema (no alembic_version table).")


# -- PostgreSQL ----------------------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """The newest installed ``pg_dump``/``pg_restore`` (Debian keeps each version's client
    tools in /usr/lib/postgresql/<version>/bin; PATH may only hold a wrapper)."""
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    found = str(versions[-1]) if versions else shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not installed: install Debian's postgresql-client.")
    return found


def _pg_connection(lms: Platform) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and an environment that carries it: the password
    never shows in the process list."""
    url: URL = lms.db.engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(password=None).render_as_string(hide_password=False), env


def _pg_tables(lms: Platform) -> int:
    with lms.db.engine.connect() as conn:
        return conn.scalar(text(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"))


def _run_pg_tool(command: list[str], env: dict[str, str], total: int,
                 on_progress: Progress) -> None:
    """Run ``command`` (with --verbose), counting the tables it reports on stderr."""
    done, lines = 0, []
    on_progress(0, total)
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                          text=True) as process:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.rstrip())
            if _PG_TABLE_LINE.search(line):
                done += 1
                on_progress(min(done, total), total)
    if process.returncode:
        errors = [line for line in lines if "error" in line.lower()] or lines[-5:]
        raise BackupError(f"{Path(command[0]).name} failed: " + "\n".join(errors))
    on_progress(total, total)


def _pg_dump(lms: Platform, destination: Path, on_progress: Progress) -> None:
    uri, env = _pg_connection(lms)
    _run_pg_tool([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                  "--verbose", f"--file={destination}", f"--dbname={uri}"],
                 env, _pg_tables(lms), on_progress)


def _pg_restore(lms: Platform, source: Path, on_progress: Progress) -> None:
    uri, env = _pg_connection(lms)
    listing = subprocess.run([pg_tool("pg_restore"), "--list", str(source)], env=env,
                             capture_output=True, text=True)
    if listing.returncode:
        raise BackupError(f"{source} cannot be read: {listing.stderr.strip()}")
    total = sum(" TABLE DATA " in line for line in listing.stdout.splitlines())
    _run_pg_tool([pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
                  "--no-privileges", "--single-transaction", "--exit-on-error", "--verbose",
                  f"--dbname={uri}", str(source)],
                 env, total, on_progress)
