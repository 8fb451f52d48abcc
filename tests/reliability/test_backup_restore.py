"""`lms db backup` / `lms db restore`: a round trip brings back every row, and the database
keeps working afterwards (sequences, constraints), on SQLite and PostgreSQL."""

from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text

from lmscore.cli import cli
from lmscore.models import User
from lmscore.services import demo


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


def _snapshot(lms) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    tables = ("users", "tracks", "enrolments", "outbox_events", "alembic_version")
    with lms.db.engine.connect() as conn:
        return {table: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {table}"))),
                              key=repr)
                for table in tables}


def test_backup_then_restore_brings_back_every_row(backend, scratch_database, live_app,
                                                   tmp_path: Path):
    app = live_app(scratch_database(backend))
    lms = app.extensions["lmscore"]
    with app.app_context():
        demo.load(lms, lms.db.session)
    before = _snapshot(lms)
    assert before["users"]
    runner = app.test_cli_runner()
    archive = tmp_path / "backups" / "lms.backup"

    result = runner.invoke(cli, ["db", "backup", str(archive)])
    assert result.exit_code == 0, result.output
    assert "Backup written" in result.output and archive.stat().st_size > 0

    with app.app_context():  # what happens after the backup is undone by the restore
        session = lms.db.session
        session.execute(delete(User).where(User.email == "admin@example.org"))
        session.add(User(email="late@example.org", name="Late", password_hash="-"))
        session.commit()
    assert _snapshot(lms) != before

    result = runner.invoke(cli, ["db", "restore", str(archive), "--yes"])
    assert result.exit_code == 0, result.output
    assert _snapshot(lms) == before

    with app.app_context():  # the restored database takes new rows (ids, sequences)
        session = lms.db.session
        session.add(User(email="after@example.org", name="After", password_hash="-"))
        session.commit()
        assert session.scalar(select(func.count()).select_from(User)) == len(before["users"]) + 1


def test_backup_refuses_to_overwrite_and_restore_checks_the_file(backend, scratch_database,
                                                                 live_app, tmp_path: Path):
    app = live_app(scratch_database(backend))
    runner = app.test_cli_runner()
    existing = tmp_path / "existing.backup"
    existing.write_bytes(b"keep me")

    result = runner.invoke(cli, ["db", "backup", str(existing)])
    assert result.exit_code == 1 and "exists" in result.output
    assert existing.read_bytes() == b"keep me"

    result = runner.invoke(cli, ["db", "restore", str(existing), "--yes"])
    assert result.exit_code == 1 and "not an lmscore backup" in result.output

    other = "postgresql" if backend == "sqlite" else "sqlite"
    other_app = live_app(scratch_database(other))
    archive = tmp_path / f"{other}.backup"
    assert other_app.test_cli_runner().invoke(cli, ["db", "backup", str(archive)]).exit_code == 0
    result = runner.invoke(cli, ["db", "restore", str(archive), "--yes"])
    assert result.exit_code == 1
    assert f"is a {other} backup; the configured database is {backend}" in result.output


def test_restore_asks_before_replacing_the_data(scratch_database, live_app, tmp_path: Path):
    app = live_app(scratch_database("sqlite"))
    runner = app.test_cli_runner()
    archive = tmp_path / "lms.backup"
    assert runner.invoke(cli, ["db", "backup", str(archive)]).exit_code == 0

    result = runner.invoke(cli, ["db", "restore", str(archive)], input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output


def test_a_backup_is_private_and_an_unwritable_place_is_a_message(backend, scratch_database,
                                                                 live_app, tmp_path: Path):
    app = live_app(scratch_database(backend))
    runner = app.test_cli_runner()
    archive = tmp_path / "lms.backup"
    assert runner.invoke(cli, ["db", "backup", str(archive)]).exit_code == 0
    assert archive.stat().st_mode & 0o777 == 0o600  # it holds password hashes

    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    result = runner.invoke(cli, ["db", "backup", str(blocker / "lms.backup")])
    assert result.exit_code == 1, result.output
    assert f"cannot write the backup {blocker / 'lms.backup'}" in result.output
