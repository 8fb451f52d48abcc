"""One Alembic environment: core revisions plus each enabled plugin's branch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from ..errors import LmsError

if TYPE_CHECKING:
    from ..platform import Platform

HERE = Path(__file__).parent
CORE_VERSIONS = HERE / "versions"
CORE_BRANCH = "lmscore"


def version_locations(lms: Platform) -> list[str]:
    locations = [str(CORE_VERSIONS)]
    for _plugin, location in lms.plugins.collect("lms_alembic_version_locations", lms=lms):
        locations.append(str(location))
    return locations


def alembic_config(lms: Platform) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(version_locations(lms)))
    cfg.attributes["lms"] = lms
    return cfg


class MigrationError(LmsError):
    code = "migration_failed"


class Progress(Protocol):
    """How far an upgrade is, for whoever runs it (``lms db upgrade`` draws a bar)."""

    def applied(self, revision: str, title: str) -> None:
        """A revision was applied."""

    def rows(self, revision: str, done: int, total: int) -> None:
        """A revision moving many rows has moved ``done`` of ``total``."""


def upgrade(lms: Platform, revision: str = "heads", *,
            progress: Progress | None = None) -> None:
    cfg = alembic_config(lms)
    cfg.attributes["progress"] = progress
    try:
        command.upgrade(cfg, revision)
    except CommandError as exc:  # e.g. an unknown revision, or one not below the current
        raise MigrationError(f"cannot upgrade to {revision!r}: {exc}") from None


def pending_revisions(lms: Platform) -> int:
    """How many revisions an upgrade to heads would apply."""
    script = ScriptDirectory.from_config(alembic_config(lms))
    applied = {r.revision for r in script.revision_map.iterate_revisions(
        tuple(current_heads(lms)), "base")}
    return sum(1 for r in script.walk_revisions() if r.revision not in applied)


def report_rows(revision: str, done: int, total: int) -> None:
    """For a revision's data move over many rows: tell the upgrade's ``Progress``."""
    progress = context.config.attributes.get("progress")
    if progress is not None:
        progress.rows(revision, done, total)


def downgrade(lms: Platform, revision: str) -> None:
    try:
        command.downgrade(alembic_config(lms), revision)
    except CommandError as exc:
        raise MigrationError(f"cannot downgrade to {revision!r}: {exc}") from None


def current_heads(lms: Platform) -> list[str]:
    with lms.db.engine.connect() as connection:
        return sorted(MigrationContext.configure(connection).get_current_heads())
