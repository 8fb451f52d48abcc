"""JSON bank files (docs/content-format.md): ``topic__subtopic__leaf__facet.json`` holding a
list of ``{id, type, question, options, answer, explanation, difficulty, tags}``.

The facet path comes from the file name; a file named otherwise goes to the default facet
path, with a warning. Positions are "item N" (1-based in the list).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..capabilities.content import ItemSpec
from .common import BankFileError, ParseResult, read_text, slugify

FIELDS = {"id", "type", "question", "options", "answer", "explanation", "difficulty", "tags"}


def facet_from_name(filename: str) -> tuple[str, ...] | None:
    parts = tuple(Path(filename).stem.split("__"))
    return parts if len(parts) == 4 and all(p and slugify(p) == p for p in parts) else None


def _spec(raw: Any, facet_path: tuple[str, ...]) -> tuple[ItemSpec | None, str, str]:
    """The item, or (None, id, why not) for an entry of the wrong shape."""
    if not isinstance(raw, dict):
        return None, "", "an item is a JSON object"
    external_id = raw.get("id")
    external_id = external_id if isinstance(external_id, str) else ""
    unknown = sorted(set(raw) - FIELDS)
    checks = (
        (not unknown, f"unknown field {unknown[0]!r}" if unknown else ""),
        (isinstance(raw.get("id"), str), "id must be a string"),
        (isinstance(raw.get("type"), str), "type must be a string"),
        (isinstance(raw.get("question"), str), "question must be a string"),
        (isinstance(raw.get("options", {}), dict)
         and all(isinstance(v, str) for v in raw.get("options", {}).values()),
         "options map keys to option texts"),
        (isinstance(raw.get("explanation", ""), str), "explanation must be a string"),
        (type(raw.get("difficulty", 3)) is int, "difficulty must be an integer"),
        (isinstance(raw.get("tags", []), list)
         and all(isinstance(t, str) for t in raw.get("tags", [])), "tags must be strings"),
    )
    for ok, reason in checks:
        if not ok:
            return None, external_id, reason
    return ItemSpec(
        external_id=external_id, type=raw["type"], prompt=raw["question"],
        options=raw.get("options", {}), answer=raw.get("answer"),
        explanation=raw.get("explanation", ""), difficulty=raw.get("difficulty", 3),
        tags=tuple(raw.get("tags", [])), facet_path=facet_path,
    ), external_id, ""


def parse(path: Path, facet_path_default: tuple[str, ...], name: str | None = None) -> ParseResult:
    name = name or path.name
    result = ParseResult()
    facet_path = facet_from_name(name)
    if facet_path is None:
        facet_path = tuple(facet_path_default)
        result.warnings.append(f"{name} is not named topic__subtopic__leaf__facet.json: its "
                               f"items go to {'/'.join(facet_path)}")
    try:
        data = json.loads(read_text(path, name))
    except json.JSONDecodeError as exc:
        raise BankFileError(name, f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise BankFileError(name, "the JSON is nested too deeply") from None
    if not isinstance(data, list):
        raise BankFileError(name, "a bank file holds a JSON list of items")
    for number, raw in enumerate(data, start=1):
        spec, external_id, problem = _spec(raw, facet_path)
        if spec is None:
            result.fail(f"item {number}", external_id, problem)
        else:
            result.add(f"item {number}", spec)
    return result
