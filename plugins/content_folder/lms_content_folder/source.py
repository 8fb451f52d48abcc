from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from lmscore.capabilities.content import ContentError, ContentSource, TrackSpec

from .reader import read_track


class FolderSource(ContentSource):
    """Reads every track under ``folders``: a folder with a track.toml is one track; any other
    folder is searched one level down for track folders."""

    label = "Content folders"

    def __init__(self, name: str, folders: Sequence[str | Path]):
        self.name = name
        self.folders = [Path(f) for f in folders]

    def track_folders(self) -> Iterator[Path]:
        for folder in self.folders:
            if not folder.is_dir():
                raise ContentError("content folder does not exist", file=str(folder))
            if (folder / "track.toml").is_file():
                yield folder
                continue
            yield from sorted(p for p in folder.iterdir() if (p / "track.toml").is_file())

    def tracks(self) -> Iterator[TrackSpec]:
        for folder in self.track_folders():
            yield read_track(folder)
