"""Uploaded files: stored under the configured root by an opaque random key, never by the
uploaded name, and only ever served through an access-checked view."""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .config import UploadsSettings
from .errors import ValidationFailed

CHUNK = 1024 * 1024


def sanitise_filename(name: str) -> str:
    """A display name safe in headers and on disk: no path, no control characters."""
    name = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[^\w.\- ]+", "_", name).strip(" .")
    if len(name) > 200:  # shorten the stem, keep the extension the type check relies on
        stem, dot, extension = name.rpartition(".")
        suffix = dot + extension if dot and len(extension) <= 10 else ""
        name = (stem if suffix else name)[:200 - len(suffix)] + suffix
    return name or "upload"


@dataclass(frozen=True)
class StoredFile:
    key: str
    name: str
    size: int


class FileStore:
    def __init__(self, settings: UploadsSettings):
        self.settings = settings
        # Absolute once, at start-up: a relative root means the working directory, while
        # send_file would read a relative path against the application package.
        self.root = Path(settings.root).absolute()

    def _invalid(self, message: str) -> ValidationFailed:
        return ValidationFailed(message, details={"fields": {"file": [message]}})

    def save(self, stream: BinaryIO, filename: str) -> StoredFile:
        name = sanitise_filename(filename)
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if extension not in self.settings.allowed_extensions:
            raise self._invalid(
                f"Files of type .{extension or '?'} are not accepted; allowed: "
                + ", ".join(self.settings.allowed_extensions) + "."
            )
        limit = self.settings.max_mb * 1024 * 1024
        key = secrets.token_hex(16)
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        try:
            with path.open("wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise self._invalid(f"The file is larger than {self.settings.max_mb} MB.")
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if size == 0:
            path.unlink(missing_ok=True)
            raise self._invalid("The file is empty.")
        return StoredFile(key=key, name=name, size=size)

    def path(self, key: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", key):
            raise ValueError("not a storage key")
        return self.root / key[:2] / key

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
