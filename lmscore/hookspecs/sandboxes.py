"""Sandboxes: where untrusted code (code questions and deliverables) runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hookspec

if TYPE_CHECKING:
    from ..capabilities import Sandbox
    from ..platform import Platform


@hookspec
def lms_register_sandboxes(lms: Platform) -> list[Sandbox] | None:
    """Return sandboxes to register by their ``name``.

    Called once per app at start-up. One sandbox is active, chosen by
    ``[code_grading] sandbox``; a configured name that no plugin registers stops start-up.
    ``run`` is called from background jobs, possibly from several threads at once. The core
    registers ``local`` (bubblewrap plus rlimits on this machine).
    """
