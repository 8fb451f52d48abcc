"""The github Alembic branch: upgrade from empty matches the models; downgrade removes it."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from lmscore.db import Base
from lmscore.migrations import downgrade, upgrade


def test_upgrade_matches_the_models_and_downgrade_removes_the_tables(app_factory, tmp_path):
    app = app_factory({"database": {"url": f"sqlite:///{tmp_path}/m.db"},
                       "plugins": {"enabled": ["github"]}})
    lms = app.extensions["lmscore"]
    upgrade(lms)
    with lms.db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if "github" in str(d)]
    assert not diffs, diffs
    assert {"github_accounts", "github_repositories", "github_deliveries"} <= set(
        inspect(lms.db.engine).get_table_names())
    downgrade(lms, "base")
    assert not [t for t in inspect(lms.db.engine).get_table_names() if t.startswith("github")]
