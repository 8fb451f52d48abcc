"""The plugin's Alembic branch builds exactly its models' tables, and goes back down."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from lmscore.cli import cli
from lmscore.db import Base


def test_branch_matches_the_models_and_downgrades(tmp_path, app_factory):
    app = app_factory({"database": {"url": f"sqlite:///{tmp_path / 'migrations.db'}"},
                       "plugins": {"enabled": ["adaptive"]}})
    lms = app.extensions["lmscore"]
    lms.db.session_factory.configure(bind=lms.db.engine)  # its own database, not the test's
    runner = app.test_cli_runner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    with lms.db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        ours = [d for d in compare_metadata(context, Base.metadata) if "adaptive_" in str(d)]
    assert not ours, ours
    assert "adaptive_observations" in inspect(lms.db.engine).get_table_names()
    result = runner.invoke(cli, ["db", "downgrade", "adaptive@base"])
    assert result.exit_code == 0, result.output
    assert not [t for t in inspect(lms.db.engine).get_table_names() if t.startswith("adaptive_")]
