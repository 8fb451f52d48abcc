"""Alembic environment: the engine comes from the platform in ``config.attributes``."""

from alembic import context

import lmscore.models  # noqa: F401  (registers core tables on Base.metadata)
from lmscore.db import Base

config = context.config
lms = config.attributes["lms"]


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    with lms.db.engine.begin() as connection:
        _run_with(connection)


def _applied(ctx, step, heads, run_args) -> None:
    progress = config.attributes.get("progress")
    if progress is not None and step.is_upgrade:
        progress.applied(step.up_revision_id, (step.up_revision.doc or "").splitlines()[0])


def _run_with(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        on_version_apply=_applied,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
