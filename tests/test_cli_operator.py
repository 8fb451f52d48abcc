"""What `lms` answers to what an operator can get wrong: a one-line message and a non-zero exit,
never a traceback, and nothing already saved is lost."""

import os
import socket

import pytest
from click.testing import CliRunner

from lmscore.app import create_app
from lmscore.cli import cli
from lmscore.testing.plugin import TEST_SECRET


@pytest.fixture
def bare_app(tmp_path, monkeypatch):
    """``bare_app(database_url)``: an app on that database, which nothing has migrated."""
    for name in [name for name in os.environ if name.startswith("LMS_")]:
        monkeypatch.delenv(name)
    empty = tmp_path / "empty.toml"
    empty.write_text("# settings come as overrides\n", encoding="utf-8")
    monkeypatch.setenv("LMS_CONFIG", str(empty))
    built = []

    def factory(database_url: str):
        app = create_app({"secret_key": TEST_SECRET, "database": {"url": database_url},
                          "instance_dir": str(tmp_path / "instance"),
                          "email": {"backend": "file", "file_dir": str(tmp_path / "mail")}})
        built.append(app.extensions["lmscore"])
        return app

    yield factory
    for lms in built:
        lms.close()


def run(app, *args, **kwargs):
    result = app.test_cli_runner().invoke(cli, list(args), **kwargs)
    # A message and an exit code (SystemExit), never an exception with its traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_a_database_without_the_schema_asks_for_db_upgrade(bare_app, tmp_path):
    app = bare_app(f"sqlite:///{tmp_path / 'new.db'}")
    result = run(app, "banks", "list")
    assert result.exit_code == 1
    assert "no such table" in result.output and "run `lms db upgrade`" in result.output


def test_an_unreachable_database_is_named(bare_app):
    app = bare_app("postgresql+psycopg://lms@127.0.0.1:1/lms")
    result = run(app, "db", "current")
    assert result.exit_code == 1
    assert "cannot use the database: connection failed" in result.output
    assert "Check [database] url." in result.output


@pytest.mark.parametrize("command", ["upgrade", "downgrade"])
def test_an_unknown_revision_is_a_message(bare_app, tmp_path, command):
    app = bare_app(f"sqlite:///{tmp_path / 'new.db'}")
    result = run(app, "db", command, "nonsense")
    assert result.exit_code == 1
    assert f"cannot {command} to 'nonsense': Can't locate revision" in result.output


def test_init_into_a_place_it_cannot_write(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    result = CliRunner().invoke(cli, ["init", "--path", str(blocker / "lms.toml")])
    assert result.exit_code == 1
    assert f"cannot write {blocker / 'lms.toml'}" in result.output


def test_serve_refuses_a_taken_port_and_out_of_range_options(app):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(app, "serve", "--port", str(port))
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.output
    for args in (["serve", "--port", "70000"], ["serve", "--threads", "0"],
                 ["worker", "--threads", "0"]):
        result = run(app, *args)
        assert result.exit_code == 2 and "is not in the range" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--ratings", ",,"], "--ratings takes again, hard, good or easy"),
    (["--ratings", "good", "--start", "9999-12-31T23:00"],
     "the reviews would fall outside the years 1 to 9999"),
])
def test_scheduler_preview_refuses_what_it_cannot_simulate(app, args, message):
    result = run(app, "scheduler", "preview", "--scheduler", "leitner", *args)
    assert result.exit_code == 1 and message in result.output


def test_version_is_lmscores():
    from lmscore import __version__

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output == f"lms (lmscore) {__version__}\n"
