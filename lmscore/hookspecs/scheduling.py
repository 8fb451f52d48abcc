"""Schedulers: spaced-repetition algorithms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hookspec

if TYPE_CHECKING:
    from ..capabilities import Scheduler
    from ..platform import Platform


@hookspec
def lms_register_schedulers(lms: Platform) -> list[Scheduler] | None:
    """Return schedulers to register by their ``name``.

    Called once per app at start-up. Which scheduler serves a review is chosen by configuration
    (``[providers] scheduler``, overridden per track under ``[tracks.CODE]``), never by plugin
    order. A configured name that no plugin registers stops start-up. The core registers
    ``leitner``.
    """
