"""Content sources: where tracks and question banks come from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hookspec

if TYPE_CHECKING:
    from ..capabilities import ContentSource
    from ..platform import Platform


@hookspec
def lms_register_content_sources(lms: Platform) -> list[ContentSource] | None:
    """Return content sources to register by their ``name``.

    Called once per app at start-up, in every process (web, worker, CLI). ``lms content sync``
    reads every registered source (or the one named). Results from all plugins are combined; two
    sources with the same name stop start-up.
    """
