"""Tracks from folders: ``FolderSource`` is reusable by pip-installable track plugins."""

from .source import FolderSource

__all__ = ["FolderSource"]
