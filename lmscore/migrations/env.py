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


def _run_with(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
