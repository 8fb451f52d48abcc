"""Question banks: validating items and importing them in bulk.

Imports are idempotent: an item is keyed by its ``external_id``; unchanged items (same
content hash) are skipped, changed ones updated in place, new ones added, all with bulk
statements in chunks, so 100,000 items take seconds. Every failure is reported with its
position and reason, and never stops the other items.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from ..capabilities.content import ItemSpec
from ..db import utcnow
from ..models.banks import ITEM_TYPES, NODE_LEVELS, BankNode, Item, QuestionBank
from . import code_grading

CHUNK = 2000
# Core statements on the table: the ORM's bulk layer costs more than the database here.
ITEMS = Item.__table__
UPDATED_COLUMNS = ("bank_id", "facet_id", "external_id", "type", "prompt", "options", "answer",
                   "explanation", "difficulty", "tags", "source", "content_hash",
                   "archived_at", "updated_at")
JSON_COLUMNS = frozenset({"options", "answer", "tags"})
UPDATE_BY_ID = (update(ITEMS).where(ITEMS.c.id == bindparam("item_id"))
                .values({name: bindparam(name) for name in UPDATED_COLUMNS}))


@dataclass(frozen=True)
class ImportFailure:
    position: str
    external_id: str
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    archived: int = 0
    failed: list[ImportFailure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.imported or self.updated or self.archived)

    def merge(self, other: ImportReport) -> None:
        self.imported += other.imported
        self.updated += other.updated
        self.skipped += other.skipped
        self.archived += other.archived
        self.failed += other.failed
        self.warnings += other.warnings


def item_problem(spec: ItemSpec) -> str | None:
    """Why an item cannot be stored, or None. Shared by every importer."""
    if not spec.external_id or len(spec.external_id) > 100:
        return "the id must be 1 to 100 characters"
    if spec.type not in ITEM_TYPES:
        return f"unknown type {spec.type!r}"
    if not spec.prompt.strip():
        return "the question text is empty"
    if len(spec.facet_path) != len(NODE_LEVELS) or not all(spec.facet_path):
        return "the item needs a topic, subtopic, leaf and facet"
    if not 1 <= spec.difficulty <= 5:
        return "difficulty must be 1 to 5"
    answer, options = spec.answer, spec.options
    if spec.type in ("mcq_single", "mcq_multi"):
        if not 2 <= len(options) <= 10:
            return "a choice question needs 2 to 10 options"
        if len(set(options.values())) != len(options):
            return "two options have the same text"
        if spec.type == "mcq_single":
            if not isinstance(answer, str) or answer not in options:
                return "a single-choice answer is one existing option key"
        elif isinstance(answer, dict):
            if not answer or any(k not in options for k in answer):
                return "the answer's fractions name options that do not exist"
            if not all(_is_number(v) for v in answer.values()):
                return "each fraction is a number"
            if not any(float(v) > 0 for v in answer.values()):
                return "at least one option must carry positive credit"
        elif not isinstance(answer, list) or not answer or any(k not in options for k in answer):
            return "a multiple-choice answer lists existing option keys"
    elif spec.type == "short_answer":
        if not isinstance(answer, list) or not answer \
                or not all(isinstance(a, str) and a.strip() for a in answer):
            return "a short answer is a list of accepted strings"
    elif spec.type == "numeric":
        if not isinstance(answer, dict) or not _is_number(answer.get("value")) or any(
            key not in ("value", "tolerance", "relative")
            or (key != "value" and not (_is_number(v) and v >= 0))
            for key, v in answer.items()
        ):
            return 'a numeric answer is {"value": number, "tolerance" or "relative": number ≥ 0}'
    elif spec.type in ("theory", "scenario"):
        # May be empty: imported essays (GIFT, Moodle) have no model answer to show.
        if not isinstance(answer, str):
            return "a theory or scenario answer is a model answer text"
    elif spec.type == "code":
        problem = code_grading.spec_problem(answer)
        if problem:
            return f"code answer: {problem}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def content_hash(spec: ItemSpec) -> str:
    data = [spec.type, spec.prompt, spec.options, spec.answer, spec.explanation,
            spec.difficulty, list(spec.tags), list(spec.facet_path)]
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def get_or_create_bank(
    session: Session, code: str, name: str, track_id: int | None = None
) -> QuestionBank:
    """The bank with this code, created when new. Codes are upper case, as track codes are
    (review requests name a bank in any case)."""
    code = code.upper()
    bank = session.scalar(select(QuestionBank).where(QuestionBank.code == code))
    if bank is None:
        bank = QuestionBank(code=code, name=name, track_id=track_id)
        session.add(bank)
        session.flush()
    elif track_id is not None and bank.track_id != track_id:
        bank.track_id = track_id
    return bank


def _node_name(code: str) -> str:
    return code.replace("-", " ").replace("_", " ").capitalize()


class _Nodes:
    """The bank's hierarchy, loaded once, extended as new paths appear."""

    def __init__(self, session: Session, bank: QuestionBank):
        self.session, self.bank = session, bank
        self.ids = dict(session.execute(
            select(BankNode.path, BankNode.id).where(BankNode.bank_id == bank.id)
        ).all())

    def facet_id(self, facet_path: tuple[str, ...]) -> int:
        parent = None
        for level, code in enumerate(facet_path):
            path = "/".join(facet_path[: level + 1])
            if path not in self.ids:
                node = BankNode(bank_id=self.bank.id, parent_id=parent, level=level, code=code,
                                path=path, name=_node_name(code))
                self.session.add(node)
                self.session.flush()
                self.ids[path] = node.id
            parent = self.ids[path]
        assert parent is not None
        return parent


def import_items(
    session: Session,
    bank: QuestionBank,
    specs: Iterable[tuple[str, ItemSpec]],
    source: str,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import ``(position, item)`` pairs into ``bank`` in the caller's transaction."""
    report = ImportReport()
    nodes = _Nodes(session, bank)
    iterator = iter(specs)
    seen: set[str] = set()
    while chunk := list(islice(iterator, CHUNK)):
        ids = [spec.external_id for _pos, spec in chunk]
        existing = {
            row.external_id: row
            for row in session.execute(
                select(Item.id, Item.external_id, Item.bank_id, Item.content_hash,
                       Item.archived_at).where(Item.external_id.in_(ids))
            )
        }
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        now = utcnow()
        for position, spec in chunk:
            problem = item_problem(spec)
            if problem is None and spec.external_id in seen:
                problem = "the id appears twice in this import"
            row = existing.get(spec.external_id)
            if problem is None and row is not None and row.bank_id != bank.id:
                problem = "the id is already used by an item of another bank"
            if problem:
                report.failed.append(ImportFailure(position, spec.external_id, problem))
                continue
            seen.add(spec.external_id)
            digest = content_hash(spec)
            if row is not None and row.content_hash == digest and row.archived_at is None:
                report.skipped += 1
                continue
            values = {
                "bank_id": bank.id, "facet_id": nodes.facet_id(spec.facet_path),
                "external_id": spec.external_id, "type": spec.type, "prompt": spec.prompt,
                "options": dict(spec.options), "answer": spec.answer,
                "explanation": spec.explanation, "difficulty": spec.difficulty,
                "tags": list(spec.tags), "source": source, "content_hash": digest,
                "archived_at": None, "updated_at": now,
            }
            if row is None:
                inserts.append({**values, "created_at": now})
                report.imported += 1
            else:
                updates.append({**values, "item_id": row.id})
                report.updated += 1
        _write(session, inserts, updates)
        if on_progress:
            on_progress(len(chunk))
    if report.imported or report.updated:
        # A new or moved item may sit before a learner's recorded review progress: progress
        # recorded under the old count is no longer trusted (reviews._note_introduced).
        bank.content_version = QuestionBank.content_version + 1
    return report


def _write(session: Session, inserts: list[dict[str, Any]], updates: list[dict[str, Any]]) -> None:
    connection = session.connection()
    if connection.dialect.driver == "psycopg":
        # psycopg's executemany is one statement per row; COPY streams the whole chunk.
        _pg_copy(connection, inserts, updates)
        return
    if inserts:
        connection.execute(insert(ITEMS), inserts)
    if updates:
        connection.execute(UPDATE_BY_ID, updates)


def _pg_value(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS:
        return json.dumps(value)
    if isinstance(value, datetime):  # the columns hold naive UTC (see UTCDateTime)
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _pg_copy(connection: Any, inserts: list[dict[str, Any]],
             updates: list[dict[str, Any]]) -> None:
    """Inserts COPY straight into items; updates COPY into a temporary table, then one
    UPDATE … FROM it."""
    cursor = connection.connection.driver_connection.cursor()

    def copy(table: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as stream:
            for row in rows:
                stream.write_row([_pg_value(c, row[c]) for c in columns])

    with cursor:
        if inserts:
            copy("items", (*UPDATED_COLUMNS, "created_at"), inserts)
        if updates:
            columns = ("id", *UPDATED_COLUMNS)
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS item_updates ON COMMIT DROP AS "
                           f"SELECT {', '.join(columns)} FROM items WITH NO DATA")
            cursor.execute("TRUNCATE item_updates")
            copy("item_updates", columns, [{**u, "id": u["item_id"]} for u in updates])
            cursor.execute(
                f"UPDATE items SET {', '.join(f'{c} = u.{c}' for c in UPDATED_COLUMNS)} "
                "FROM item_updates u WHERE items.id = u.id")


def archive_missing(session: Session, bank: QuestionBank, source: str, keep: set[str]) -> int:
    """Archive this source's items of ``bank`` that it no longer provides."""
    rows = session.execute(
        select(Item.id, Item.external_id).where(
            Item.bank_id == bank.id, Item.source == source, Item.archived_at.is_(None)
        )
    ).all()
    gone = [{"id": row.id, "archived_at": utcnow()} for row in rows if row.external_id not in keep]
    if gone:
        session.execute(update(Item), gone)
    return len(gone)
