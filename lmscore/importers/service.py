"""Bank imports for the CLI and the admin API: opening a bank by code, uploading a file
(admins), listing banks with their item counts (staff)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..models import User
from ..models.banks import BankNode, Item, QuestionBank
from ..models.tracks import Track
from ..services.banks import ImportReport, get_or_create_bank
from ..services.permissions import Action, require
from . import import_parsed, parse_file

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def open_bank(session: Session, code: str, name: str | None = None) -> QuestionBank:
    """The bank with this code, created (named ``name`` or the code) when new."""
    if not CODE_RE.match(code):
        raise ValidationFailed("A bank code is 1 to 32 letters, digits, - or _.",
                               details={"fields": {"code": ["invalid bank code"]}})
    if name is not None and not 0 < len(name.strip()) <= 200:
        raise ValidationFailed("A bank name is 1 to 200 characters.",
                               details={"fields": {"name": ["invalid bank name"]}})
    bank = get_or_create_bank(session, code, name or code)
    if name and bank.name != name:
        bank.name = name
    return bank


def upload(
    session: Session, user: User | None, code: str, file: tuple[BinaryIO, str] | None, *,
    fmt: str = "auto", name: str | None = None,
) -> ImportReport:
    """Import one uploaded ``(stream, file name)`` into bank ``code`` and commit. A file that
    cannot be read at all raises ``BankFileError`` (422) and changes nothing."""
    require(user, Action.EDIT_TRACKS)
    if file is None:
        raise ValidationFailed("Upload the question file as the multipart field 'file'.",
                               details={"fields": {"file": ["missing"]}})
    stream, filename = file
    filename = Path(filename or "upload").name
    with tempfile.TemporaryDirectory(prefix="lms-bank-") as folder:
        path = Path(folder) / "upload"
        with path.open("wb") as out:
            shutil.copyfileobj(stream, out)
        parsed = parse_file(path, fmt, name=filename)
    report = import_parsed(session, open_bank(session, code, name), [parsed])
    session.commit()
    return report


def bank_summaries(session: Session) -> list[dict]:
    """Every bank with its live and archived item counts and its number of facets."""
    live = func.count(Item.id).filter(Item.archived_at.is_(None))
    items = (select(Item.bank_id, live.label("live"),
                    (func.count(Item.id) - live).label("archived"))
             .group_by(Item.bank_id).subquery())
    facets = (select(BankNode.bank_id, func.count().label("facet_count"))
              .where(BankNode.level == 3).group_by(BankNode.bank_id).subquery())
    rows = session.execute(
        select(QuestionBank.code, QuestionBank.name, Track.code.label("track_code"),
               func.coalesce(items.c.live, 0), func.coalesce(items.c.archived, 0),
               func.coalesce(facets.c.facet_count, 0))
        .outerjoin(Track, Track.id == QuestionBank.track_id)
        .outerjoin(items, items.c.bank_id == QuestionBank.id)
        .outerjoin(facets, facets.c.bank_id == QuestionBank.id)
        .order_by(QuestionBank.code)
    ).all()
    keys = ("code", "name", "track_code", "items", "archived_items", "facets")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def list_banks(session: Session, user: User | None) -> list[dict]:
    require(user, Action.VIEW_BANKS)
    return bank_summaries(session)
