"""Question-bank importers, one module per file type, chosen by the file's extension or by
name. Each parser is ``parse(path, facet_path_default, name=None) -> ParseResult``: the valid
items with their positions, the questions it could not read (position and reason) and
warnings; a file it cannot read at all raises ``BankFileError``. ``import_parsed`` writes
the items with ``services.banks.import_items`` (idempotent: unchanged items are skipped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from ..models.banks import QuestionBank
from ..services.banks import ImportFailure, ImportReport, import_items
from . import anki, gift, json_bank, moodle_xml
from .common import BankFileError, ParseResult, default_facet_path

__all__ = ["FORMATS", "BankFileError", "ParseResult", "ParsedFile", "detect_format",
           "import_parsed", "parse_file"]

Parser = Callable[..., ParseResult]
FORMATS: dict[str, Parser] = {
    "json": json_bank.parse,
    "gift": gift.parse,
    "xml": moodle_xml.parse,
    "apkg": anki.parse,
}
EXTENSIONS = {".json": "json", ".gift": "gift", ".txt": "gift", ".xml": "xml", ".apkg": "apkg"}


@dataclass
class ParsedFile:
    name: str
    format: str
    result: ParseResult


def detect_format(filename: str, fmt: str = "auto") -> str:
    if fmt != "auto":
        if fmt not in FORMATS:
            raise BankFileError(filename, f"unknown format {fmt!r}; use one of "
                                          f"{', '.join(FORMATS)}")
        return fmt
    found = EXTENSIONS.get(Path(filename).suffix.lower())
    if found is None:
        raise BankFileError(filename, "unknown file type: name it .json, .gift, .txt (GIFT), "
                                      ".xml (Moodle XML) or .apkg, or give the format")
    return found


def parse_file(path: Path, fmt: str = "auto", facet_path: tuple[str, ...] | None = None,
               name: str | None = None) -> ParsedFile:
    """Parse one file; ``name`` is what the user calls it (an upload's file name)."""
    name = name or path.name
    fmt = detect_format(name, fmt)
    return ParsedFile(name, fmt, FORMATS[fmt](path, facet_path or default_facet_path(name), name))


def import_parsed(
    session: Session, bank: QuestionBank, files: Iterable[ParsedFile], *,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import the files' items into ``bank`` (the caller commits). Positions and warnings are
    prefixed with the file name; an id repeated in a later file is a failure there."""
    report = ImportReport()
    seen: dict[str, str] = {}
    for file in files:
        where = f"{file.name}, "
        report.warnings += [where + w for w in file.result.warnings]
        report.failed += [ImportFailure(where + f.position, f.external_id, f.reason)
                          for f in file.result.failures]
        items = []
        for position, spec in file.result.items:
            first = seen.setdefault(spec.external_id, file.name)
            if first != file.name:
                report.failed.append(ImportFailure(where + position, spec.external_id,
                                                   f"the id is also used in {first}"))
            else:
                items.append((where + position, spec))
        report.merge(import_items(session, bank, items, f"{file.format}:{file.name}"[:200],
                                  on_progress=on_progress))
    return report
