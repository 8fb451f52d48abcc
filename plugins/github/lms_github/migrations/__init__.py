"""Alembic revisions of the ``github`` branch."""
