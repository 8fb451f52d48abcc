"""Anki deck packages (``.apkg``): a zip holding the collection, a SQLite database
(``collection.anki21``, or ``collection.anki2`` from older versions), and a ``media`` map.

Basic notes (a standard note type with at least two fields) become ``short_answer`` items:
the first field, as text, is the question, the second the one accepted answer; the id is
``anki-<note guid>`` and the note's tags are kept. Media referenced in a field (images,
``[sound:…]``) is not imported: the note is, with a warning. Cloze notes are failures.
Positions are "note N" (notes in creation order). Every item goes to the default facet path.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import zipfile
from contextlib import closing
from pathlib import Path

from ..capabilities.content import ItemSpec
from .common import BankFileError, ParseResult, html_to_text

COLLECTIONS = ("collection.anki21", "collection.anki2")
MAX_COLLECTION_BYTES = 512 * 1024 * 1024  # a zip bomb stops here, not at the disk's end
FIELD_SEPARATOR = "\x1f"
STANDARD, CLOZE = 0, 1


def _extract_collection(path: Path, name: str, folder: Path) -> Path:
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            member = next((m for m in COLLECTIONS if m in members), None)
            if member is None:
                problem = ("the deck uses Anki's newer compressed format: export it with "
                           "'Support older Anki versions'" if "collection.anki21b" in members
                           else "no collection.anki2 in the package")
                raise BankFileError(name, problem)
            target = folder / "collection.db"
            with archive.open(member) as source, target.open("wb") as out:
                # Read at most the limit, whatever size the zip's header claims.
                shutil.copyfileobj(_limited(source, name), out)
            return target
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise BankFileError(name, f"not a readable .apkg (zip) file: {exc}") from None


class _limited:
    """A read-only stream that refuses to go past MAX_COLLECTION_BYTES."""

    def __init__(self, stream, name: str):
        self.stream, self.name, self.total = stream, name, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size if size > 0 else 1 << 20)
        self.total += len(data)
        if self.total > MAX_COLLECTION_BYTES:
            raise BankFileError(self.name, "the collection is larger than "
                                           f"{MAX_COLLECTION_BYTES >> 20} MB unpacked")
        return data


def _read_notes(database: Path, name: str) -> tuple[dict, list[tuple]]:
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            models = json.loads(db.execute("SELECT models FROM col").fetchone()[0])
            notes = db.execute("SELECT guid, mid, flds, tags FROM notes ORDER BY id").fetchall()
    except (sqlite3.Error, TypeError, ValueError) as exc:
        raise BankFileError(name, f"not an Anki collection: {exc}") from None
    if not isinstance(models, dict):
        raise BankFileError(name, "not an Anki collection: the note types are unreadable")
    return models, notes


def parse(path: Path, facet_path_default: tuple[str, ...], name: str | None = None) -> ParseResult:
    name = name or path.name
    with tempfile.TemporaryDirectory(prefix="lms-apkg-") as folder:
        models, notes = _read_notes(_extract_collection(path, name, Path(folder)), name)
    result = ParseResult()
    for number, (guid, mid, fields, tags) in enumerate(notes, start=1):
        position, external_id = f"note {number}", f"anki-{guid}"
        model = models.get(str(mid))
        kind = model.get("type") if isinstance(model, dict) else None
        values = str(fields or "").split(FIELD_SEPARATOR)
        if kind not in (STANDARD, CLOZE):
            result.fail(position, external_id, "the note's type is missing from the deck")
            continue
        if kind == CLOZE or len(values) < 2:
            result.fail(position, external_id, "only basic (front/back) notes are imported")
            continue
        (prompt, front_media), (back, back_media) = html_to_text(values[0]), html_to_text(values[1])
        if media := front_media + back_media:
            result.warnings.append(f"{position}: {external_id}: media ignored "
                                   f"({', '.join(media)})")
        result.add(position, ItemSpec(
            external_id=external_id, type="short_answer", prompt=prompt, answer=[back],
            tags=tuple(str(tags or "").split()), facet_path=tuple(facet_path_default)))
    return result
