"""Spaced-repetition review sessions.

Next items: overdue cards first (most overdue first), then new items up to the daily new-item
limit, counted per learner per local day in the learner's time zone.

Answering: either a rating (again | hard | good | easy), or an answer graded by the item's
grader, from which the rating is derived: wrong → again; right → easy when answered within
``[reviews] easy_under_ms`` (default 8 s), otherwise good. Free-text items (theory,
scenario) cannot be graded on the spot: the learner compares with the model answer and rates.

A repeated ``client_attempt_id`` returns the first response and changes nothing.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    case,
    exists,
    func,
    literal,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..capabilities import Answer, GradableItem, Rating, Scheduler
from ..capabilities import CardState as State
from ..db import MAX_ID, UTCDateTime
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..events import ReviewAnswered
from ..models import (
    BankNode,
    CardState,
    Enrolment,
    Item,
    QuestionBank,
    ReviewLog,
    ReviewProgress,
    Track,
    User,
)
from . import answers, events, learning

if TYPE_CHECKING:
    from ..platform import Platform

#: Item types a learner rates after seeing the model answer instead of being graded.
SELF_RATED = ("theory", "scenario")


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": {field: [message]}})


def local_day_start(user: User | Learner, now: datetime) -> datetime:
    """The UTC instant of the last local midnight in the learner's time zone."""
    return _midnight_in(user.timezone, now)


def _midnight_in(timezone: str | None, now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(timezone or "UTC"))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(now.tzinfo)


# -- access ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Learner:
    """A user as the review queue needs them: plain values, not an ORM object, since the
    hottest read in the product loads nothing it does not use."""

    id: int
    role: str
    timezone: str | None
    session_version: int


@dataclass(frozen=True)
class BankRef:
    """A bank as the review pages and the queue need it (plain values, as ``Learner``)."""

    id: int
    code: str
    name: str
    track_id: int | None
    content_version: int


#: A bank loaded as a row (``QuestionBank``) or as plain values (``BankRef``): the review
#: functions read only the fields both have.
Bank = QuestionBank | BankRef


@dataclass(frozen=True)
class LearnerBank:
    """A user and a bank looked up together: what ``bank_access`` decides on."""

    code: str
    learner: Learner | None
    bank: BankRef | None
    track_name: str | None
    enrolment_status: str | None


def learner_and_bank(session: Session, user_id: int, code: str) -> LearnerBank:
    """The user, the bank, its track and the user's enrolment in one statement, since this
    runs on every review request (``learner`` is None when there is no such user)."""
    row = session.connection().execute(_learner_bank_statement(),
                                       {"code": code.upper(), "user_id": user_id}).first()
    return _learner_bank_from(code, row)


def _learner_bank_from(code: str, row: Row | None) -> LearnerBank:
    """A row of ``_learner_bank_statement``'s columns (None: no such user) as a LearnerBank."""
    if row is None:
        return LearnerBank(code, None, None, None, None)
    bank = None if row.bank_id is None else BankRef(
        row.bank_id, row.bank_code, row.bank_name, row.track_id, row.content_version)
    return LearnerBank(code, Learner(row.user_id, row.role, row.timezone, row.session_version),
                       bank, row.track_name, row.enrolment_status)


def bank_access(user: User | Learner, found: LearnerBank) -> BankRef:
    """The bank, if ``user`` (the checked ``found.learner``) may review it."""
    bank = found.bank
    if bank is None:
        raise NotFound(f"No question bank {found.code!r}.")
    if bank.track_id is not None and not learning.is_staff(user) \
            and found.enrolment_status not in learning.OPEN_ENROLMENT:
        raise _no_access(found.track_name)
    return bank


def get_bank(session: Session, user: User, code: str) -> BankRef:
    """The bank, if the learner may review it."""
    return bank_access(user, learner_and_bank(session, user.id, code))


@functools.cache
def _learner_bank_statement():
    return (
        select(User.id.label("user_id"), User.role, User.timezone, User.session_version,
               QuestionBank.id.label("bank_id"), QuestionBank.code.label("bank_code"),
               QuestionBank.name.label("bank_name"), QuestionBank.track_id,
               QuestionBank.content_version,
               Track.name.label("track_name"), Enrolment.status.label("enrolment_status"))
        .select_from(User)
        .outerjoin(QuestionBank, QuestionBank.code == bindparam("code", type_=String))
        .outerjoin(Track, Track.id == QuestionBank.track_id)
        .outerjoin(Enrolment, (Enrolment.track_id == QuestionBank.track_id)
                   & (Enrolment.user_id == User.id))
        .where(User.id == bindparam("user_id", type_=Integer))
    )


def _no_access(track_name: str | None) -> PermissionDenied:
    return PermissionDenied(f"Enrol in {track_name or 'the track'} to review its questions.")


def _require_access(session: Session, user: User, bank: QuestionBank) -> None:
    if bank.track_id is None or learning.is_staff(user):
        return
    track = session.get(Track, bank.track_id)
    if track is None or not learning.can_see_content(session, user, track):
        raise _no_access(track.name if track else None)


def _get_item(session: Session, user: User, item_id: int) -> tuple[Item, QuestionBank]:
    item = session.get(Item, item_id)
    if item is None or item.archived_at is not None:
        raise _invalid("item_id", f"No item with id {item_id}.")
    bank = session.get(QuestionBank, item.bank_id)
    assert bank is not None
    _require_access(session, user, bank)
    return item, bank


def scheduler_for_bank(lms: Platform, session: Session, bank: Bank,
                       user_id: int) -> Scheduler:
    """The bank's configured scheduler, bound to the learner (their own parameters, if any)."""
    track_code = session.scalar(select(Track.code).where(Track.id == bank.track_id))
    return lms.scheduler_for(track_code, bank.code).for_learner(session, user_id)


# -- next items --------------------------------------------------------------------------------


#: What a review card shows before it is answered: plain rows, not ORM items, since this is
#: the hottest read in the product. The rows also hold ``facet``, the facet's path.
CARD_COLUMNS = ("id", "type", "prompt", "options", "difficulty", "tags")
#: What a card reveals once answered (the web page shows a self-rated card's).
REVEALED_COLUMNS = ("answer", "explanation")


def next_items(lms: Platform, session: Session, user: User | Learner,
               bank: Bank, limit: int, now: datetime, *,
               revealed: bool = False) -> list[Row]:
    """Due cards (most overdue first), then new items in facet, difficulty, id order while the
    day's new-item allowance lasts, as rows of ``CARD_COLUMNS``, ``REVEALED_COLUMNS`` if
    ``revealed``, and ``facet``. One statement, built once: neither extra round trips nor
    rebuilding the query are paid per request (and, a plain Core select, it bypasses the
    ORM's execution path)."""
    return session.connection().execute(_next_items_statement(revealed), {
        "user_id": user.id, "bank_id": bank.id, "now": now, "limit": limit,
        "day_start": local_day_start(user, now),
        "new_per_day": lms.settings.reviews.new_per_day,
        "content_version": bank.content_version,
    }).all()


#: The time zone each learner's last combined read found, by user id: the next one computes
#: their local midnight with it before it reads the learner's row. Only a first guess, checked
#: against the row on every read, so a stale or missing entry costs one more statement, never
#: a wrong answer. Cleared when full rather than kept in order: refilling is that cheap.
_zone_seen: dict[int, str | None] = {}
ZONES_REMEMBERED = 100_000


def next_items_with_access(lms: Platform, session: Session, user_id: int, code: str,
                           limit: int, now: datetime) -> tuple[LearnerBank, list[dict]]:
    """``learner_and_bank`` and ``next_items`` in one statement, one round trip, for the review
    API: what ``bank_access`` decides on, and the items as dicts of ``CARD_COLUMNS`` and
    ``facet``. The items are only the caller's to use once it has accepted the learner and
    ``bank_access`` has let them in (they are computed regardless, never returned otherwise).

    The day's new-item allowance counts from the learner's local midnight, which the statement
    needs before it has read the learner's time zone: it uses the zone this process last saw
    for them (or UTC, the default), and runs once more with the zone it then read when that
    differs."""
    zone = _zone_seen.get(user_id, "UTC")  # else the default zone of users
    while True:
        rows = session.connection().execute(_next_items_statement(False, with_access=True), {
            "code": code.upper(), "user_id": user_id, "now": now, "limit": limit,
            "day_start": _midnight_in(zone, now),
            "new_per_day": lms.settings.reviews.new_per_day,
        }).all()
        found = _learner_bank_from(code, rows[0] if rows else None)
        if found.learner is None or found.learner.timezone == zone:
            break
        zone = _zone_seen[user_id] = found.learner.timezone
        if len(_zone_seen) > ZONES_REMEMBERED:
            _zone_seen.clear()
    first = len(_learner_bank_statement().selected_columns)
    names = (*CARD_COLUMNS, "facet")
    return found, [dict(zip(names, row[first:], strict=True))
                   for row in rows if row.id is not None]


#: The order new items are introduced in, which ``ix_items_bank_new_order`` holds.
NEW_ORDER = (Item.facet_id, Item.difficulty, Item.id)
#: A position before every item, and one after every item (a bank seen to its end).
FIRST_POSITION = (0, 0, 0)
PAST_THE_END = (MAX_ID, MAX_ID, MAX_ID)


def _unseen_from(user_id, bank_id, start) -> list:
    """The criteria of a bank's live items the learner has no card for, from the position
    ``start`` on (a tuple of three SQL expressions or values), walked in ``NEW_ORDER``.

    The card check is a scalar subquery, which PostgreSQL keeps as a per-item probe of
    uq_card_states_user_id (index only) while it walks the items in order: a plain NOT EXISTS
    becomes an anti-join that first reads every card of the learner (a heap page each) and,
    planned once for everyone, compares each item with each card."""
    seen = select(exists().where(CardState.user_id == user_id, CardState.item_id == Item.id)
                  .correlate(Item)).scalar_subquery()
    return [Item.bank_id == bank_id, Item.archived_at.is_(None),
            tuple_(*NEW_ORDER) >= tuple_(*start), ~seen]


@functools.cache
def _next_items_statement(revealed: bool, *, with_access: bool = False):
    """The next items of a bank given by id (``bank_id``, ``content_version``); or, ``with_access``,
    of the bank named by ``code``, each row led by ``_learner_bank_statement``'s columns: one
    row with no item when there is none, no row when there is no such user."""
    columns = (*CARD_COLUMNS, *(REVEALED_COLUMNS if revealed else ()))
    user_id = bindparam("user_id", type_=Integer)
    if with_access:
        access = _learner_bank_statement().cte("access")
        bank_id = select(access.c.bank_id).scalar_subquery()
        content_version = select(access.c.content_version).scalar_subquery()
    else:
        bank_id = bindparam("bank_id", type_=Integer)
        content_version = bindparam("content_version", type_=Integer)
    limit = bindparam("limit", type_=Integer)
    card = [Item.__table__.c[name] for name in (*columns, "facet_id")]
    due = (
        select(*card, literal(0).label("part"), CardState.due_at,
               CardState.id.label("card_id"), literal(0).label("rank"))
        .join_from(CardState, Item, Item.id == CardState.item_id)
        .where(CardState.user_id == user_id, CardState.bank_id == bank_id,
               CardState.due_at <= bindparam("now", type_=UTCDateTime()),
               Item.archived_at.is_(None))
        .order_by(CardState.due_at, CardState.id).limit(limit)
        .cte("due")
    )
    new_today = select(func.count()).select_from(ReviewLog).where(
        ReviewLog.user_id == user_id, ReviewLog.bank_id == bank_id,
        ReviewLog.state_before.is_(None),
        ReviewLog.reviewed_at >= bindparam("day_start", type_=UTCDateTime()),
    ).scalar_subquery()
    left = limit - select(func.count()).select_from(due).scalar_subquery()
    allowance = bindparam("new_per_day", type_=Integer) - new_today
    room = select(case((left < allowance, left), else_=allowance).label("n")).cte("room")
    # Where the learner's walk through the new items starts: their recorded progress, if it
    # was recorded under the bank's current content.
    progress = [
        func.coalesce(select(column).where(
            ReviewProgress.user_id == user_id, ReviewProgress.bank_id == bank_id,
            ReviewProgress.content_version == content_version,
        ).scalar_subquery(), first)
        for column, first in zip((ReviewProgress.facet_id, ReviewProgress.difficulty,
                                  ReviewProgress.item_id), FIRST_POSITION, strict=True)
    ]
    fresh = (
        select(*card, literal(1).label("part"),
               literal(None, UTCDateTime()).label("due_at"),
               literal(None, Integer).label("card_id"),
               func.row_number().over(order_by=NEW_ORDER).label("rank"))
        .where(*_unseen_from(user_id, bank_id, progress))
        .order_by(*NEW_ORDER)
        # The page size as a plain parameter, the allowance applied outside: with a LIMIT
        # it can read, the planner walks ix_items_bank_new_order and stops after a few
        # unseen items instead of sorting every unseen item of the bank.
        .limit(limit)
        .subquery("fresh")
    )
    picked = union_all(
        select(due),
        select(fresh).where(fresh.c.rank <= select(room.c.n).scalar_subquery()),
    ).subquery("picked")
    order = (picked.c.part, picked.c.due_at, picked.c.card_id, picked.c.facet_id,
             picked.c.difficulty, picked.c.id)
    cards = (select(*(picked.c[name] for name in columns), BankNode.path.label("facet"))
             .join(BankNode, BankNode.id == picked.c.facet_id))
    if not with_access:
        return cards.order_by(*order)
    cards = cards.add_columns(*(c.label(f"order_{n}") for n, c in enumerate(order))).subquery()
    return (
        select(*access.c, *(cards.c[name] for name in (*columns, "facet")))
        .select_from(access.outerjoin(cards, true()))
        .order_by(*(cards.c[f"order_{n}"] for n in range(len(order))))
    )


# -- answering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewInput:
    item_id: int
    client_attempt_id: str
    rating: str | None = None
    selected: tuple[str, ...] = ()
    text: str | None = None
    value: float | None = None
    elapsed_ms: int | None = None


def _state_of(card: CardState | None, scheduler: Scheduler) -> State | None:
    if card is None:
        return None
    # A card scheduled by another algorithm keeps its timing; its algorithm-specific fields
    # mean nothing to this scheduler, which starts its own (`lms scheduler rebuild` replays).
    data = card.data if card.scheduler == scheduler.name else {}
    return State(due_at=card.due_at, interval_days=card.interval_days, data=dict(data))


def _state_json(state: State | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {"due_at": state.due_at.isoformat(), "interval_days": state.interval_days,
            **state.data}


def _rating_from_answer(lms: Platform, item: Item, data: ReviewInput) -> tuple[Rating, bool, str]:
    """Grade the answer; without one, the error names what this item is answered with."""
    if item.type in SELF_RATED:
        raise _invalid("rating", "Compare with the model answer and rate yourself.")
    answers.check_shape(item.type, item.options, selected=data.selected or None,
                        text=data.text, value=data.value)
    grader = lms.grader_for(item.type, item.grader)
    gradable = GradableItem(id=item.external_id, type=item.type, prompt=item.prompt,
                            options=item.options, answer_key=item.answer)
    try:
        result = grader.grade(gradable, Answer(selected=data.selected, text=data.text,
                                               value=data.value, elapsed_ms=data.elapsed_ms))
    except ValueError as exc:
        raise _invalid("answer", str(exc)) from None
    if not result.correct:
        return Rating.AGAIN, False, result.feedback
    quick = data.elapsed_ms is not None and data.elapsed_ms < lms.settings.reviews.easy_under_ms
    return (Rating.EASY if quick else Rating.GOOD), True, result.feedback


def answer(lms: Platform, session: Session, user: User, data: ReviewInput,
           now: datetime) -> dict[str, Any]:
    previous = session.scalar(
        select(ReviewLog).where(ReviewLog.client_attempt_id == data.client_attempt_id)
    )
    if previous is not None:
        return _replay(previous, user)
    if data.elapsed_ms is not None and data.elapsed_ms < 0:
        raise _invalid("elapsed_ms", "elapsed_ms cannot be negative.")
    item, bank = _get_item(session, user, data.item_id)
    has_answer = bool(data.selected) or data.text is not None or data.value is not None
    if data.rating is not None and has_answer:
        raise _invalid("rating", "Send either a rating or an answer.")
    feedback, correct = "", None
    if data.rating is not None:
        try:
            rating = Rating(data.rating)
        except ValueError:
            raise _invalid("rating", "A rating is again, hard, good or easy.") from None
    else:
        rating, correct, feedback = _rating_from_answer(lms, item, data)

    scheduler = scheduler_for_bank(lms, session, bank, user.id)
    card = session.scalar(select(CardState).where(CardState.user_id == user.id,
                                                  CardState.item_id == item.id))
    before = _state_of(card, scheduler)
    after = scheduler.review(before, rating, now)
    introduced = card is None
    if introduced:
        card = CardState(user_id=user.id, item_id=item.id, bank_id=bank.id, reps=0, lapses=0)
        session.add(card)
    elif rating is Rating.AGAIN:
        card.lapses += 1
    card.scheduler = scheduler.name
    card.due_at, card.interval_days, card.data = after.due_at, after.interval_days, after.data
    card.reps += 1
    card.last_reviewed_at = now
    response = {
        "item_id": item.id, "correct": correct, "rating": rating.value,
        "due_at": after.due_at.isoformat(), "interval_days": after.interval_days,
        "state": {"scheduler": scheduler.name, "reps": card.reps, "lapses": card.lapses,
                  **after.data},
        "feedback": feedback, "explanation": item.explanation, "answer": item.answer,
    }
    session.add(ReviewLog(
        user_id=user.id, item_id=item.id, bank_id=bank.id,
        client_attempt_id=data.client_attempt_id, rating=rating.value, correct=correct,
        elapsed_ms=data.elapsed_ms, reviewed_at=now, scheduler=scheduler.name,
        state_before=_state_json(before), state_after=_state_json(after), response=response,
    ))
    try:
        session.flush()
    except IntegrityError:  # the same attempt id arrived concurrently: the first one won
        session.rollback()
        previous = session.scalar(
            select(ReviewLog).where(ReviewLog.client_attempt_id == data.client_attempt_id)
        )
        if previous is None:
            raise
        return _replay(previous, user)
    if introduced:
        _note_introduced(session, user.id, bank, item)
    events.emit(session, ReviewAnswered(user_id=user.id, item_id=item.id, rating=rating.value,
                                        correct=correct, due_at=after.due_at.isoformat()))
    session.commit()
    return response


def _note_introduced(session: Session, user_id: int, bank: QuestionBank, item: Item) -> None:
    """Move the learner's progress through the bank's new items to the first unseen one,
    ``item`` just having got its first card: a walk from the recorded position (or, with none
    recorded under the bank's current content, from the first item, once), usually one or two
    probes long. Walking every time, not only when ``item`` sat at the position, also moves a
    position whose item was archived, or that a concurrent answer left on an item it had
    introduced.

    Safe under concurrency: cards are never taken away, so a position computed from any
    snapshot stays at or before the learner's real progress; and an import that adds or moves
    items bumps the bank's ``content_version`` (read here before the walk), so a position
    computed while it ran is not trusted afterwards."""
    recorded = session.execute(
        select(ReviewProgress.facet_id, ReviewProgress.difficulty, ReviewProgress.item_id)
        .where(ReviewProgress.user_id == user_id, ReviewProgress.bank_id == bank.id,
               ReviewProgress.content_version == bank.content_version)
    ).first()
    start = FIRST_POSITION if recorded is None else tuple(recorded)
    following = session.execute(
        select(*NEW_ORDER).where(*_unseen_from(user_id, bank.id, start), Item.id != item.id)
        .order_by(*NEW_ORDER).limit(1)
    ).first()
    position = tuple(following) if following is not None else PAST_THE_END
    if position == start and recorded is not None:
        return  # answered ahead of the order: the position's item is still unseen
    facet_id, difficulty, item_id = position
    values = {"content_version": bank.content_version, "facet_id": facet_id,
              "difficulty": difficulty, "item_id": item_id}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(ReviewProgress).values(user_id=user_id, bank_id=bank.id, **values)
        .on_conflict_do_update(index_elements=["user_id", "bank_id"], set_=values)
    )


def _replay(log: ReviewLog, user: User) -> dict[str, Any]:
    if log.user_id != user.id:
        raise Conflict("This client_attempt_id was already used.",
                       details={"fields": {"client_attempt_id": ["already used"]}})
    return log.response


def preview(lms: Platform, session: Session, user: User, item_id: int,
            now: datetime) -> dict[str, Any]:
    """What each rating would do now: shown on the rating buttons as "next interval"."""
    item, bank = _get_item(session, user, item_id)
    scheduler = scheduler_for_bank(lms, session, bank, user.id)
    card = session.scalar(select(CardState).where(CardState.user_id == user.id,
                                                  CardState.item_id == item.id))
    before = _state_of(card, scheduler)
    out = {}
    for rating in Rating:
        after = scheduler.review(before, rating, now)
        out[rating.value] = {"due_at": after.due_at.isoformat(),
                             "interval_days": after.interval_days}
    return {"item_id": item.id, "scheduler": scheduler.name, "ratings": out}


# -- statistics ----------------------------------------------------------------------------------


def stats(lms: Platform, session: Session, user: User, bank: Bank,
          now: datetime) -> dict[str, Any]:
    return stats_for_banks(lms, session, user, [bank], now)[bank.id]


def stats_for_banks(lms: Platform, session: Session, user: User, banks: list[Bank],
                    now: datetime) -> dict[int, dict[str, Any]]:
    """Per bank id: due now and today, new items available, learned, 30-day retention, streak,
    facet mastery and a 30-day due forecast. The database counts, each statement covering
    every bank at once (grouped by bank), so a dashboard with ten banks costs what one bank
    does, and the learner's cards are not read one by one (only where the bank's scheduler
    estimates recall card by card)."""
    if not banks:
        return {}
    settings = lms.settings.reviews
    today = now.astimezone(ZoneInfo(user.timezone or "UTC")).date()
    figures = _bank_figures(lms, session, user, banks, now)
    forecast = _due_forecast(session, user, [bank.id for bank in banks], now)
    streak = streak_days(session, user, now)
    out = {}
    for bank in banks:
        mine = figures[bank.id]
        left_today = settings.new_per_day - mine.new_today
        out[bank.id] = {
            "bank": bank.code,
            "due_now": mine.due_now,
            "due_today": mine.due_today,
            "new_available": max(0, min(mine.unseen, left_today)),
            "learned": mine.learned,
            "retention_30d": round(mine.recalled / mine.recalls, 4) if mine.recalls else None,
            "streak_days": streak, "facets": mine.facets,
            "struggling": [f for f in mine.facets if f["struggling"]],
            "forecast": [{"date": (today + timedelta(days=n)).isoformat(), "due": due}
                         for n, due in enumerate(forecast[bank.id])],
        }
    return out


@dataclass
class _BankFigures:
    """One bank's counts for one learner, summed over its facets."""

    due_now: int = 0
    due_today: int = 0
    #: Cards whose interval reached ``[reviews] mastery_interval_days``.
    learned: int = 0
    #: Live items the learner has no card for.
    unseen: int = 0
    #: First reviews since the local midnight.
    new_today: int = 0
    #: Reviews of cards seen before in the last 30 days, and those not rated "again".
    recalls: int = 0
    recalled: int = 0
    facets: list[dict[str, Any]] = field(default_factory=list)


def _bank_figures(lms: Platform, session: Session, user: User, banks: list[Bank],
                  now: datetime) -> dict[int, _BankFigures]:
    """Counts and facet mastery per bank: four grouped statements (cards, items, reviews per
    facet, recent reviews) and the banks' tracks, plus one reading the cards of schedulers
    that estimate recall."""
    if not banks:
        return {}
    settings = lms.settings.reviews
    params = {"user_id": user.id, "bank_ids": [bank.id for bank in banks]}
    figures = {bank.id: _BankFigures() for bank in banks}
    schedulers = _schedulers_of(lms, session, user, banks)
    # Mastery takes the scheduler's recall estimate where it has one, card by card in Python.
    # A scheduler keeping the base class's retrievability (always None) has none: the
    # database counts its cards like any other.
    estimating = {bank_id for bank_id, scheduler in schedulers.items()
                  if type(scheduler).retrievability is not Scheduler.retrievability}
    mastered: dict[tuple[int, int], float] = defaultdict(float)
    day_start = local_day_start(user, now)
    for bank_id, facet_id, scheduler, due_now, due_today, learned in session.execute(
        _card_counts_statement(),
        {**params, "now": now, "day_end": day_start + timedelta(days=1),
         "mastery_days": settings.mastery_interval_days},
    ):
        mine = figures[bank_id]
        mine.due_now += due_now
        mine.due_today += due_today
        mine.learned += learned
        if bank_id not in estimating or scheduler != schedulers[bank_id].name:
            mastered[bank_id, facet_id] += learned
    for bank_id, cards in _cards_of(session, user, sorted(estimating)).items():
        scheduler = schedulers[bank_id]
        for card in cards:
            if card.scheduler != scheduler.name:
                continue  # counted above: its fields mean nothing to this scheduler
            estimate = scheduler.retrievability(State(
                due_at=card.due_at, interval_days=card.interval_days, data=card.data), now)
            mastered[bank_id, card.facet_id] += estimate if estimate is not None else float(
                card.interval_days >= settings.mastery_interval_days)
    for bank_id, new_today, recalls, recalled in session.execute(
        _recent_reviews_statement(),
        {**params, "day_start": day_start, "since": now - timedelta(days=30)},
    ):
        mine = figures[bank_id]
        mine.new_today, mine.recalls, mine.recalled = new_today, recalls, recalled
    reviews = dict(session.execute(_facet_reviews_statement(), params).all())
    items = session.execute(_item_counts_statement(), params).all()
    for bank_id, facet_id, path, name, total, seen in sorted(items, key=lambda row: row.path):
        mine = figures[bank_id]
        mine.unseen += total - seen
        mastery = round(mastered[bank_id, facet_id] / total, 4)
        count = reviews.get(facet_id, 0)
        mine.facets.append({
            "facet": path, "name": name, "items": total, "reviews": count, "mastery": mastery,
            "struggling": mastery < settings.struggling_below
            and count >= settings.struggling_min_reviews,
        })
    return figures


def _schedulers_of(lms: Platform, session: Session, user: User,
                   banks: list[Bank]) -> dict[int, Scheduler]:
    """Each bank's scheduler bound to the learner; each scheduler is bound once."""
    track_codes = dict(session.execute(
        select(Track.id, Track.code).where(Track.id.in_({b.track_id for b in banks}))
    ).all())
    bound: dict[str, Scheduler] = {}
    out = {}
    for bank in banks:
        scheduler = lms.scheduler_for(track_codes.get(bank.track_id), bank.code)
        if scheduler.name not in bound:
            bound[scheduler.name] = scheduler.for_learner(session, user.id)
        out[bank.id] = bound[scheduler.name]
    return out


def _count_if(condition):
    return func.sum(case((condition, 1), else_=0))


def _learner_cards():
    return (CardState.user_id == bindparam("user_id", type_=Integer),
            CardState.bank_id.in_(bindparam("bank_ids", expanding=True)))


@functools.cache
def _card_counts_statement():
    """Per bank, facet and card scheduler: the learner's cards due now, due today, learned."""
    return (
        select(CardState.bank_id, Item.facet_id, CardState.scheduler,
               _count_if(CardState.due_at <= bindparam("now", type_=UTCDateTime())),
               _count_if(CardState.due_at < bindparam("day_end", type_=UTCDateTime())),
               _count_if(CardState.interval_days >= bindparam("mastery_days")))
        .join(Item, Item.id == CardState.item_id)
        .where(*_learner_cards())
        .group_by(CardState.bank_id, Item.facet_id, CardState.scheduler)
    )


@functools.cache
def _item_counts_statement():
    """Per bank and facet (with its path and name): live items, and those the learner has a
    card for."""
    return (
        select(Item.bank_id, Item.facet_id, BankNode.path, BankNode.name, func.count(),
               func.count(CardState.id))
        .join(BankNode, BankNode.id == Item.facet_id)
        .outerjoin(CardState, (CardState.item_id == Item.id)
                   & (CardState.user_id == bindparam("user_id", type_=Integer)))
        .where(Item.bank_id.in_(bindparam("bank_ids", expanding=True)),
               Item.archived_at.is_(None))
        .group_by(Item.bank_id, Item.facet_id, BankNode.path, BankNode.name)
    )


@functools.cache
def _facet_reviews_statement():
    """Per facet: the learner's reviews of its items."""
    return (
        select(Item.facet_id, func.count())
        .join(ReviewLog, ReviewLog.item_id == Item.id)
        .where(ReviewLog.user_id == bindparam("user_id", type_=Integer),
               Item.bank_id.in_(bindparam("bank_ids", expanding=True)))
        .group_by(Item.facet_id)
    )


@functools.cache
def _recent_reviews_statement():
    """Per bank, among the learner's reviews since ``since`` (an index range, which the day's
    reviews fall in too): first reviews since ``day_start``, reviews of cards seen before, and
    how many of those were not "again". Apart from the per-facet count: that one reads every
    review, and these conditions over all of them would cost more than this second range."""
    seen_before = ReviewLog.state_before.is_not(None)
    return (
        select(ReviewLog.bank_id,
               _count_if(~seen_before & (ReviewLog.reviewed_at
                                         >= bindparam("day_start", type_=UTCDateTime()))),
               _count_if(seen_before), _count_if(seen_before & (ReviewLog.rating != "again")))
        .where(ReviewLog.user_id == bindparam("user_id", type_=Integer),
               ReviewLog.bank_id.in_(bindparam("bank_ids", expanding=True)),
               ReviewLog.reviewed_at >= bindparam("since", type_=UTCDateTime()))
        .group_by(ReviewLog.bank_id)
    )


#: Days the due forecast covers, today first.
_FORECAST_DAYS = 30


def _due_forecast(session: Session, user: User, bank_ids: list[int],
                  now: datetime) -> dict[int, list[int]]:
    """Per bank: the learner's cards due on each of the next ``_FORECAST_DAYS`` local days
    (overdue ones count today)."""
    zone = ZoneInfo(user.timezone or "UTC")
    today = now.astimezone(zone).date()
    params: dict[str, Any] = {"user_id": user.id, "bank_ids": bank_ids}
    for n in range(_FORECAST_DAYS):
        params[f"high_{n}"] = _local_midnight(today + timedelta(days=n + 1), zone)
    out = {bank_id: [0] * _FORECAST_DAYS for bank_id in bank_ids}
    for bank_id, n, count in session.execute(_due_forecast_statement(_FORECAST_DAYS), params):
        out[bank_id][n] = count
    return out


@functools.cache
def _due_forecast_statement(day_count: int):
    """Per bank and day n: the learner's cards due in local day n, which ends at ``high_n``
    (day 0 takes the overdue ones too). Built once per number of days, with named
    parameters, so neither building nor compiling it is paid per request."""
    day = case(*((CardState.due_at < bindparam(f"high_{n}", type_=UTCDateTime()),
                  literal(n, Integer)) for n in range(day_count)))
    due = (
        select(CardState.bank_id, day.label("n"))
        .where(*_learner_cards(),
               CardState.due_at < bindparam(f"high_{day_count - 1}", type_=UTCDateTime()))
        .subquery("due")
    )
    return select(due.c.bank_id, due.c.n, func.count()).group_by(due.c.bank_id, due.c.n)


def _cards_of(session: Session, user: User, bank_ids: list[int]) -> dict[int, list[Any]]:
    """The learner's card states in these banks, as plain rows grouped by bank id."""
    grouped: dict[int, list[Any]] = defaultdict(list)
    if not bank_ids:
        return grouped
    for row in session.execute(
        select(CardState.bank_id, CardState.scheduler, CardState.due_at,
               CardState.interval_days, CardState.data, Item.facet_id)
        .join(Item, Item.id == CardState.item_id)
        .where(CardState.user_id == user.id, CardState.bank_id.in_(bank_ids))
    ):
        grouped[row.bank_id].append(row)
    return grouped


@dataclass(frozen=True)
class DayActivity:
    reviews: int = 0
    #: Reviews of cards seen before (what retention counts) and how many were not "again".
    recalls: int = 0
    recalled: int = 0


def daily_activity(session: Session, user: User, days: list[date]) -> dict[date, DayActivity]:
    """Review counts per local day of the learner (their time zone, DST included), counted by
    the database: one statement whatever the number of reviews, nothing read row by row.
    Days without reviews are absent."""
    if not days:
        return {}
    zone = ZoneInfo(user.timezone or "UTC")
    params: dict[str, Any] = {"user_id": user.id}
    for n, day in enumerate(days):
        params[f"low_{n}"] = _local_midnight(day, zone)
        params[f"high_{n}"] = _local_midnight(day + timedelta(days=1), zone)
    rows = session.execute(_daily_activity_statement(len(days)), params)
    return {days[n]: DayActivity(count, recalls or 0, recalled or 0)
            for n, count, recalls, recalled in rows}


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant local ``day`` starts in ``zone``."""
    return datetime.combine(day, time(), zone).astimezone(UTC)


@functools.cache
def _daily_activity_statement(day_count: int):
    """Per day n in [low_n, high_n): reviews, recalls, recalled. Built once per number of days
    with named parameters, so neither building nor compiling it is paid per request."""
    window = union_all(*(
        select(literal(n, Integer).label("n"),
               bindparam(f"low_{n}", type_=UTCDateTime()).label("low"),
               bindparam(f"high_{n}", type_=UTCDateTime()).label("high"))
        for n in range(day_count)
    )).cte("days")
    seen_before = ReviewLog.state_before.is_not(None)
    return (
        select(window.c.n, func.count(), func.sum(case((seen_before, 1), else_=0)),
               func.sum(case((seen_before & (ReviewLog.rating != "again"), 1), else_=0)))
        .join(ReviewLog, (ReviewLog.user_id == bindparam("user_id"))
              & (ReviewLog.reviewed_at >= window.c.low) & (ReviewLog.reviewed_at < window.c.high))
        .group_by(window.c.n)
    )


#: Days a streak query looks at; a longer streak asks again for the days before.
_STREAK_WINDOW = 60


def streak_days(session: Session, user: User, now: datetime) -> int:
    """Consecutive local days with at least one review (in any bank), ending today, or
    yesterday when nothing is reviewed yet today. Asks for a window of days at a time, so it
    costs one statement for any streak under two months."""
    zone = ZoneInfo(user.timezone or "UTC")
    today = now.astimezone(zone).date()
    streak, day, first = 0, today, True
    while True:
        days = [day - timedelta(days=n) for n in range(_STREAK_WINDOW)]
        active = _active_days(session, user, days, zone, now)
        for candidate in days:
            if candidate in active:
                streak += 1
            elif not (first and candidate == today):  # nothing yet today: count from yesterday
                return streak
            first = False
        day = days[-1] - timedelta(days=1)


def _active_days(session: Session, user: User, days: list[date], zone: ZoneInfo,
                 until: datetime) -> set[date]:
    """Which of ``days`` (consecutive, newest first) have a review before ``until``."""
    # Day n runs from bound n + 1 to bound n: each bound is a local midnight.
    params: dict[str, Any] = {
        "user_id": user.id,
        "bound_0": min(_local_midnight(days[0] + timedelta(days=1), zone),
                       until + timedelta(microseconds=1)),
    }
    for n, day in enumerate(days):
        params[f"bound_{n + 1}"] = _local_midnight(day, zone)
    return {days[n] for n in session.scalars(_active_days_statement(len(days)), params)}


@functools.cache
def _active_days_statement(day_count: int):
    """The days n in [bound_{n+1}, bound_n) with a review. ``EXISTS`` stops at a day's first
    review in the (user, reviewed_at) index: a streak costs a probe per day, not a read of
    every review in it."""
    def bound(n: int):
        return bindparam(f"bound_{n}", type_=UTCDateTime())

    window = union_all(*(
        select(literal(n, Integer).label("n"), bound(n + 1).label("low"), bound(n).label("high"))
        for n in range(day_count)
    )).cte("days")
    return select(window.c.n).where(exists().where(
        ReviewLog.user_id == bindparam("user_id", type_=Integer),
        ReviewLog.reviewed_at >= window.c.low, ReviewLog.reviewed_at < window.c.high,
    ))


def facet_mastery(lms: Platform, session: Session, user: User, bank: Bank,
                  now: datetime) -> list[dict[str, Any]]:
    """Per facet: the share of its items the learner masters (interval ≥ the mastery
    interval, or the scheduler's recall estimate where it has one), and review counts."""
    return _bank_figures(lms, session, user, [bank], now)[bank.id].facets


# -- scheduler tools -----------------------------------------------------------------------------


def simulate(scheduler: Scheduler, ratings: list[Rating], start: datetime) -> list[dict[str, Any]]:
    """Apply ``ratings`` in turn, each review happening at the previous due time."""
    rows, state, at = [], None, start
    for rating in ratings:
        state = scheduler.review(state, rating, at)
        rows.append({"rating": rating.value, "reviewed_at": at.isoformat(),
                     "due_at": state.due_at.isoformat(), "interval_days": state.interval_days,
                     **state.data})
        at = state.due_at
    return rows


def rebuild(lms: Platform, session: Session, *, on_card=None) -> int:
    """Recompute every card state with the scheduler now configured for its bank by
    replaying the learner's review log in order. Returns the number of cards rebuilt."""
    banks = {bank.id: bank for bank in session.scalars(select(QuestionBank))}
    rebuilt = 0
    cards = session.execute(select(CardState.id, CardState.user_id, CardState.item_id,
                                   CardState.bank_id)).all()
    bound: dict[tuple[int, int], Scheduler] = {}
    for card_id, user_id, item_id, bank_id in cards:
        key = (bank_id, user_id)
        if key not in bound:
            bound[key] = scheduler_for_bank(lms, session, banks[bank_id], user_id)
        scheduler = bound[key]
        state = None
        logs = session.scalars(select(ReviewLog).where(
            ReviewLog.user_id == user_id, ReviewLog.item_id == item_id
        ).order_by(ReviewLog.reviewed_at, ReviewLog.id)).all()
        for log in logs:
            state = scheduler.review(state, Rating(log.rating), log.reviewed_at)
        card = session.get(CardState, card_id)
        if state is not None and card is not None:
            card.scheduler, card.due_at = scheduler.name, state.due_at
            card.interval_days, card.data = state.interval_days, state.data
            rebuilt += 1
        if on_card:
            on_card()
        if rebuilt % 1000 == 0:
            session.commit()
    session.commit()
    return rebuilt


def struggling_facets(lms: Platform, session: Session, user: User,
                      now: datetime) -> list[dict[str, Any]]:
    """Facets the learner struggles with, in every bank they review (for the learner's
    dashboard and their trainer): mastery under ``[reviews] struggling_below`` with at least
    ``struggling_min_reviews`` reviews."""
    bank_ids = session.scalars(
        select(CardState.bank_id).where(CardState.user_id == user.id).distinct()
    ).all()
    banks = list(session.scalars(select(QuestionBank).where(QuestionBank.id.in_(bank_ids))
                                 .order_by(QuestionBank.code)))
    figures = _bank_figures(lms, session, user, banks, now)
    return [{"bank": bank.code, **facet}
            for bank in banks for facet in figures[bank.id].facets if facet["struggling"]]
