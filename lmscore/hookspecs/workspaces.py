"""Workspace backends: per-learner environments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hookspec

if TYPE_CHECKING:
    from ..capabilities import WorkspaceBackend
    from ..platform import Platform


@hookspec
def lms_register_workspace_backends(lms: Platform) -> list[WorkspaceBackend] | None:
    """Return workspace backends to register by their ``name``.

    Called once per app at start-up. One backend is active, chosen by
    ``[providers] workspace_backend`` (per track under ``[tracks.CODE]``). The core registers
    ``local``, which tells learners that no workspace engine is configured.
    """
