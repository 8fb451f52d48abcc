"""What every bank importer shares: the parse result, file-level errors, ids, text clean-up."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from ..capabilities.content import ItemSpec
from ..errors import ValidationFailed
from ..services.banks import ImportFailure, item_problem

SLUG_RE = re.compile(r"[^a-z0-9]+")
MAX_ID = 100


class BankFileError(ValidationFailed):
    """The whole file is unreadable (not a zip, not UTF-8, malformed XML, an XML bomb…)."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"{name}: {problem}", details={"file": name, "problem": problem})


@dataclass
class ParseResult:
    items: list[tuple[str, ItemSpec]] = field(default_factory=list)
    failures: list[ImportFailure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, position: str, spec: ItemSpec) -> None:
        """Keep the item, or record why it cannot be stored (the shared validator)."""
        problem = item_problem(spec)
        if problem:
            self.fail(position, spec.external_id, problem)
        else:
            self.items.append((position, spec))

    def fail(self, position: str, external_id: str, reason: str) -> None:
        self.failures.append(ImportFailure(position, external_id, reason))


def slugify(text: str) -> str:
    return SLUG_RE.sub("-", text.lower()).strip("-")


def text_id(prefix: str, text: str) -> str:
    """A stable id for an untitled question: the same text gives the same id on re-import."""
    normalized = " ".join(text.split()).lower()
    return f"{prefix}-{hashlib.sha256(normalized.encode()).hexdigest()[:20]}"


def named_id(prefix: str, name: str) -> str:
    """``prefix-slug``, shortened with a hash suffix when the slug is too long for an id."""
    slug = f"{prefix}-{slugify(name)}"
    if len(slug) <= MAX_ID:
        return slug
    return f"{slug[:MAX_ID - 13]}-{hashlib.sha256(slug.encode()).hexdigest()[:12]}"


def default_facet_path(filename: str) -> tuple[str, str, str, str]:
    """Where items go when the file names no facet: imported/<file>/general/general."""
    return ("imported", slugify(Path(filename).stem) or "file", "general", "general")


def category_facet(category: str) -> tuple[str, ...] | None:
    """A Moodle category path ("$course$/top/sql/joins/inner/syntax") as a facet path, when
    it has exactly four parts once the context ($course$…) and "top" are dropped."""
    # Moodle writes a "/" inside a category name as "//".
    parts = [p.replace("\0", "/").strip() for p in category.replace("//", "\0").split("/")]
    parts = [p for p in parts if p]
    if parts and parts[0].startswith("$") and parts[0].endswith("$"):
        parts = parts[1:]
    if parts and parts[0].lower() == "top":
        parts = parts[1:]
    slugs = tuple(slugify(p) for p in parts)
    return slugs if len(slugs) == 4 and all(slugs) else None


def read_text(path: Path, name: str) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BankFileError(name, f"the file is not UTF-8 text (byte {exc.start})") from None


class _TextExtractor(HTMLParser):
    BLOCKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.media: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag in ("img", "audio", "video", "source", "object", "embed"):
            self.media.extend(v for k, v in attrs if k in ("src", "data") and v)

    def handle_endtag(self, tag):
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


SOUND_RE = re.compile(r"\[sound:([^\]]*)\]")
BLANK_LINES_RE = re.compile(r"\n\s*\n+")


def html_to_text(html: str) -> tuple[str, list[str]]:
    """Plain text of an HTML fragment, and the media files it references (img src, Anki's
    [sound:…]), which the text leaves out."""
    media = SOUND_RE.findall(html)
    parser = _TextExtractor()
    parser.feed(SOUND_RE.sub("", html))
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    text = BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()
    return text, media + parser.media
