"""Alembic: core revisions and plugin branches, from an empty database up to heads and back."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from lmscore.cli import cli
from lmscore.db import Base
from lmscore.hookspecs import hookimpl
from lmscore.migrations import (
    CORE_VERSIONS,
    alembic_config,
    current_heads,
    downgrade,
    upgrade,
)
from lmscore.plugins import installed_entry_points

PLUGIN_REVISION = '''
import sqlalchemy as sa
from alembic import op

revision = "widgets_0001"
down_revision = None
branch_labels = ("widgets",)
depends_on = "0001"


def upgrade():
    op.create_table(
        "widgets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    )


def downgrade():
    op.drop_table("widgets")
'''


#: Settings without defaults that enabled plugins need to start.
PLUGIN_SETTINGS = {
    "payments_stripe": {"secret_key": "sk_test_migrations", "webhook_secret": "whsec_migrations"},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, scratch_database) -> str:
    return scratch_database(request.param)


def _tables(lms) -> set[str]:
    return set(inspect(lms.db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_to_heads_and_down_to_base(empty_database, app_factory):
    app = app_factory({"database": {"url": empty_database}})
    lms = app.extensions["lmscore"]
    runner = app.test_cli_runner()

    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert {"users", "refresh_tokens", "outbox_events", "job_failures"} <= _tables(lms)
    heads = ScriptDirectory.from_config(alembic_config(lms)).get_heads()
    assert current_heads(lms) == sorted(heads)
    assert runner.invoke(cli, ["db", "current"]).output.split() == sorted(heads)

    result = runner.invoke(cli, ["db", "downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert _tables(lms) == set()
    assert current_heads(lms) == []


def test_migrated_schema_matches_the_models(empty_database, app_factory):
    # Every installed plugin's tables are on Base.metadata, so every plugin branch must run.
    app = app_factory({"database": {"url": empty_database},
                       "plugins": {"enabled": sorted(installed_entry_points()),
                                   **PLUGIN_SETTINGS}})
    lms = app.extensions["lmscore"]
    upgrade(lms)
    with lms.db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert not differences, "models differ from migrations; write a revision:\n" + "\n".join(
        str(difference)[:200] for difference in differences
    )


def test_core_revisions_form_one_line():
    """Two core revisions with the same parent (two new 0003s) must be merged before release."""
    script = ScriptDirectory(str(CORE_VERSIONS.parent), version_locations=[str(CORE_VERSIONS)])
    assert len(script.get_heads()) == 1, script.get_heads()


def test_hook_lms_alembic_version_locations(empty_database, app_factory, tmp_path: Path):
    versions = tmp_path / "widgets_versions"
    versions.mkdir()
    (versions / "widgets_0001.py").write_text(PLUGIN_REVISION, encoding="utf-8")

    class WidgetsPlugin:
        @hookimpl
        def lms_alembic_version_locations(self, lms):
            return [str(versions)]

    app = app_factory({"database": {"url": empty_database}}, plugins={"widgets": WidgetsPlugin()})
    lms = app.extensions["lmscore"]
    upgrade(lms)
    assert {"widgets", "users"} <= _tables(lms)
    assert "widgets_0001" in current_heads(lms)
    foreign_keys = inspect(lms.db.engine).get_foreign_keys("widgets")
    assert [fk["referred_table"] for fk in foreign_keys] == ["users"]

    downgrade(lms, "widgets@base")
    assert "widgets" not in _tables(lms) and "users" in _tables(lms)
    downgrade(lms, "base")
    assert _tables(lms) == set()
