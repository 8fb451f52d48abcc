"""Alembic revisions of the ``scheduler_fsrs`` branch."""
