"""Reads one track folder into a ``TrackSpec``; every error names file, line and field."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from lmscore.capabilities.content import (
    ContentError,
    DeliverableSpec,
    ItemSpec,
    ProjectSpec,
    StepSpec,
    TrackSpec,
)
from lmscore.services.banks import item_problem
from lmscore.services.code_grading import spec_problem

NUMBERED = re.compile(r"^(\d{2,3})-([a-z0-9][a-z0-9-]*)$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
ITEM_TYPES = ("mcq_single", "mcq_multi", "short_answer", "numeric", "theory", "scenario", "code")
DELIVERABLE_KINDS = ("url", "file", "repository", "quiz", "code", "text")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class PriceSchema(_Strict):
    amount_minor = fields.Integer(required=True, validate=validate.Range(min=0))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$"))


class TrackSchema(_Strict):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z][A-Z0-9]{1,15}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="")
    duration_weeks = fields.Integer(load_default=None, validate=validate.Range(min=1, max=520))
    price = fields.Nested(PriceSchema, load_default=None)
    settings = fields.Dict(keys=fields.String(), load_default=dict)


class DeliverableSchema(_Strict):
    key = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$"))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(DELIVERABLE_KINDS))
    required = fields.Boolean(load_default=True)
    grader = fields.String(load_default=None)
    description = fields.String(load_default="")
    settings = fields.Dict(keys=fields.String(), load_default=dict)


class ProjectSchema(_Strict):
    number = fields.Integer(required=True, validate=validate.Range(min=1, max=999))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.String(load_default="INTERNAL", validate=validate.OneOf(["INTERNAL", "CAPSTONE"]))
    summary = fields.String(load_default="")
    tech_stack = fields.List(fields.String(), load_default=list)
    prerequisites = fields.List(fields.Integer(validate=validate.Range(min=1)), load_default=list)
    github_template_repo = fields.String(
        load_default=None, validate=validate.Regexp(r"^[\w.-]+/[\w.-]+$")
    )
    estimated_hours = fields.Integer(load_default=None, validate=validate.Range(min=1))
    deliverables = fields.List(fields.Nested(DeliverableSchema), load_default=list)


class StepFrontMatter(_Strict):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    estimated_minutes = fields.Integer(load_default=None, validate=validate.Range(min=1))


class ItemSchema(_Strict):
    id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    type = fields.String(required=True, validate=validate.OneOf(ITEM_TYPES))
    question = fields.String(required=True, validate=validate.Length(min=1))
    options = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    answer = fields.Raw(required=True, allow_none=False)
    explanation = fields.String(load_default="")
    difficulty = fields.Integer(load_default=3, validate=validate.Range(min=1, max=5))
    tags = fields.List(fields.String(), load_default=list)


# -- helpers ---------------------------------------------------------------------------------


def _line_of(text: str, field: str) -> int | None:
    """The line that assigns the field: for ``deliverables.1.kind`` the second ``kind =``."""
    parts = field.split(".")
    key = parts[-1]
    index = int(parts[-2]) if len(parts) > 1 and parts[-2].isdigit() else 0
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*[=:]", re.MULTILINE)
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    match = matches[min(index, len(matches) - 1)]
    return text.count("\n", 0, match.start()) + 1


def _first_problem(messages: Any, prefix: str = "") -> tuple[str, str]:
    """(dotted field, message) of the first validation problem."""
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        return _first_problem(value, f"{prefix}.{key}" if prefix else str(key))
    if isinstance(messages, list):
        return prefix, "; ".join(str(m) for m in messages)
    return prefix, str(messages)


def _load(schema: Schema, data: Any, file: Path, text: str) -> Any:
    try:
        return schema.load(data)
    except ValidationError as exc:
        field, message = _first_problem(exc.messages)
        raise ContentError(message, file=str(file), line=_line_of(text, field) if field else None,
                           field=field) from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError(f"not UTF-8 text (byte {exc.start}): save the file as UTF-8",
                           file=str(path)) from None
    except OSError as exc:
        raise ContentError(f"cannot be read: {exc.strerror}", file=str(path)) from None


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    text = _read_text(path)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ContentError(f"invalid TOML: {exc}", file=str(path),
                           line=int(line.group(1)) if line else None) from None


def _numbered(path: Path, what: str) -> tuple[int, str]:
    match = NUMBERED.match(path.stem if path.is_file() else path.name)
    if not match:
        raise ContentError(f"{what} names must look like 01-some-slug", file=str(path))
    return int(match.group(1)), match.group(2)


def _refuse_shared_numbers(paths: list[Path], what: str) -> None:
    """Two files or folders numbered alike (01-a.md, 1-b.md would both be number 1)."""
    by_number: dict[int, list[Path]] = {}
    for path in paths:
        match = NUMBERED.match(path.stem if path.is_file() else path.name)
        if match:
            by_number.setdefault(int(match.group(1)), []).append(path)
    for number, clash in sorted(by_number.items()):
        if len(clash) > 1:
            raise ContentError(f"{what} {clash[0].name} and {clash[1].name} share number "
                               f"{number}", file=str(clash[1]))


def inline_code_files(code: Any, base: Path, track_root: Path, file: Path) -> Any:
    """A code answer (or a code deliverable's ``settings.code``) with ``tests_from`` and
    ``files_from`` (paths relative to ``base``, inside the track folder) replaced by the files'
    text under ``tests`` and ``files``, so edits to those files re-import the item."""
    if not isinstance(code, dict) or not ({"tests_from", "files_from"} & set(code)):
        return code
    code = dict(code)
    for source, target in (("tests_from", "tests"), ("files_from", "files")):
        paths = code.pop(source, [])
        paths = [paths] if isinstance(paths, str) else paths
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ContentError(f"{source} is a path or a list of paths", file=str(file),
                               field=source)
        texts = dict(code.get(target) or {}) if isinstance(code.get(target), dict) else {}
        if paths and isinstance(code.get(target), str):
            raise ContentError(f"give {target} inline or with {source}, not both",
                               file=str(file), field=source)
        for relative in paths:
            path = (base / relative).resolve()
            if not path.is_relative_to(track_root.resolve()) or not path.is_file():
                raise ContentError(f"{source}: {relative!r} is not a file inside the track "
                                   "folder", file=str(file), field=source)
            texts[path.name] = _read_text(path)
        if paths:
            code[target] = texts
    return code


# -- reading -----------------------------------------------------------------------------------


def read_step(path: Path) -> StepSpec:
    number, slug = _numbered(path, "step file")
    text = _read_text(path)
    if not text.startswith("---\n"):
        raise ContentError("a step starts with a '---' front-matter block", file=str(path), line=1)
    end = text.find("\n---", 4)
    if end < 0:
        raise ContentError("the front-matter block is not closed by '---'", file=str(path), line=1)
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ContentError(f"invalid front matter: {exc}", file=str(path),
                           line=mark.line + 2 if mark else None) from None
    if not isinstance(meta, dict):
        raise ContentError("front matter must be a mapping", file=str(path), line=2)
    front = _load(StepFrontMatter(), meta, path, text)
    body = text[end + 4:].lstrip("\n")
    if not body.strip():
        raise ContentError("the step has no text", file=str(path), field="body")
    return StepSpec(number=number, slug=slug, title=front["title"], body_markdown=body,
                    estimated_minutes=front["estimated_minutes"])


def read_project(folder: Path) -> ProjectSpec:
    number, slug = _numbered(folder, "project folder")
    path = folder / "project.toml"
    if not path.is_file():
        raise ContentError("missing project.toml", file=str(path))
    data, text = _read_toml(path)
    spec = _load(ProjectSchema(), data, path, text)
    if spec["number"] != number:
        raise ContentError(f"number is {spec['number']} but the folder says {number}",
                           file=str(path), line=_line_of(text, "number"), field="number")
    seen_keys: set[str] = set()
    for index, deliverable in enumerate(spec["deliverables"]):
        settings = deliverable["settings"]
        if "code" in settings or deliverable["grader"] == "code":
            settings["code"] = inline_code_files(settings.get("code"), folder,
                                                 folder.parent.parent, path)
            problem = spec_problem(settings["code"])
            if problem:
                field = f"deliverables.{index}.settings"
                raise ContentError(f"deliverable {deliverable['key']!r}: code: {problem}",
                                   file=str(path), line=_line_of(text, "code"), field=field)
        if deliverable["key"] in seen_keys:
            field = f"deliverables.{index}.key"
            raise ContentError(f"deliverable key {deliverable['key']!r} is used twice",
                               file=str(path), line=_line_of(text, field), field=field)
        seen_keys.add(deliverable["key"])
    step_files = sorted((folder / "steps").glob("*.md"))
    _refuse_shared_numbers(step_files, "steps")
    steps = tuple(sorted((read_step(p) for p in step_files), key=lambda s: s.number))
    return ProjectSpec(
        number=number, slug=slug, title=spec["title"], type=spec["type"],
        summary=spec["summary"], tech_stack=tuple(spec["tech_stack"]),
        prerequisites=tuple(spec["prerequisites"]),
        github_template_repo=spec["github_template_repo"],
        estimated_hours=spec["estimated_hours"], steps=steps,
        deliverables=tuple(DeliverableSpec(**d) for d in spec["deliverables"]),
    )


def read_bank_file(path: Path) -> list[ItemSpec]:
    facet_path = tuple(path.stem.split("__"))
    if len(facet_path) != 4 or not all(SLUG.match(part) for part in facet_path):
        raise ContentError("bank files are named topic__subtopic__leaf__facet.json",
                           file=str(path))
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContentError(f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno) from None
    if not isinstance(data, list):
        raise ContentError("a bank file holds a JSON list of items", file=str(path), line=1)
    items = []
    for position, raw in enumerate(data, start=1):
        try:
            item = ItemSchema().load(raw)
        except ValidationError as exc:
            field, message = _first_problem(exc.messages)
            raise ContentError(f"item {position}: {message}", file=str(path),
                               field=field) from None
        answer = item["answer"]
        if item["type"] == "code":
            answer = inline_code_files(answer, path.parent, path.parent.parent, path)
        spec = ItemSpec(
            external_id=item["id"], type=item["type"], prompt=item["question"],
            options=item["options"], answer=answer, explanation=item["explanation"],
            difficulty=item["difficulty"], tags=tuple(item["tags"]), facet_path=facet_path,
        )
        problem = item_problem(spec)  # the same rules as every other importer
        if problem:
            raise ContentError(f"item {position} ({spec.external_id}): {problem}",
                               file=str(path), field="answer")
        items.append(spec)
    return items


def _check_prerequisites(project: ProjectSpec, numbers: set[int], path: Path) -> None:
    # Progress is computed in project-number order, so a prerequisite must come earlier;
    # this also rules out cycles.
    for number in project.prerequisites:
        if number not in numbers or number >= project.number:
            problem = "unknown" if number not in numbers else "a later (or the same)"
            raise ContentError(
                f"project {project.number} lists {problem} project {number} as a prerequisite",
                file=str(path), line=_line_of(_read_text(path), "prerequisites"),
                field="prerequisites",
            )


def read_track(folder: Path) -> TrackSpec:
    path = folder / "track.toml"
    data, text = _read_toml(path)
    spec = _load(TrackSchema(), data, path, text)
    project_folders = sorted(
        p for p in (folder / "projects").iterdir() if p.is_dir()
    ) if (folder / "projects").is_dir() else []
    _refuse_shared_numbers(project_folders, "projects")
    read = sorted(((read_project(p), p) for p in project_folders), key=lambda r: r[0].number)
    numbers = {project.number for project, _ in read}
    for project, project_folder in read:
        _check_prerequisites(project, numbers, project_folder / "project.toml")
    projects = tuple(project for project, _ in read)
    items: list[ItemSpec] = []
    first_seen: dict[str, Path] = {}
    for bank_file in sorted((folder / "bank").glob("*.json")):
        for item in read_bank_file(bank_file):
            if item.external_id in first_seen:
                raise ContentError(
                    f"question id {item.external_id!r} is already used in "
                    f"{first_seen[item.external_id].name}", file=str(bank_file), field="id",
                )
            first_seen[item.external_id] = bank_file
            items.append(item)
    price = spec["price"] or {"amount_minor": 0, "currency": "EUR"}
    return TrackSpec(
        code=spec["code"], name=spec["name"], description=spec["description"],
        duration_weeks=spec["duration_weeks"], price_minor=price["amount_minor"],
        currency=price["currency"], settings=spec["settings"], projects=projects,
        items=tuple(items), origin=str(path),
    )
