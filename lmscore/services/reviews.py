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
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, String, bindparam, case, exists, func, literal, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, joinedload

from ..capabilities import Answer, GradableItem, Rating
from ..capabilities import CardState as State
from ..db import UTCDateTime
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..events import ReviewAnswered
from ..models import (
    BankNode,
    CardState,
    Enrolment,
    Item,
    QuestionBank,
    ReviewLog,
    Track,
    User,
)
from . import events, learning

if TYPE_CHECKING:
    from ..capabilities import Scheduler
    from ..platform import Platform

#: Item types a learner rates after seeing the model answer instead of being graded.
SELF_RATED = ("theory", "scenario")


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": {field: [message]}})


def local_day_start(user: User, now: datetime) -> datetime:
    """The UTC instant of the last local midnight in the learner's time zone."""
    zone = ZoneInfo(user.timezone or "UTC")
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(now.tzinfo)


# -- access ------------------------------------------------------------------------------------


def get_bank(session: Session, user: User, code: str) -> QuestionBank:
    """The bank, if the learner may review it. One statement: the bank, its track and the
    learner's enrolment come together, since this runs on every review request."""
    row = session.execute(_bank_access_statement(),
                          {"code": code.upper(), "user_id": user.id}).first()
    if row is None:
        raise NotFound(f"No question bank {code!r}.")
    bank, track_name, enrolment_status = row
    if bank.track_id is not None and not learning.is_staff(user) \
            and enrolment_status not in learning.OPEN_ENROLMENT:
        raise _no_access(track_name)
    return bank


@functools.cache
def _bank_access_statement():
    return (
        select(QuestionBank, Track.name, Enrolment.status)
        .outerjoin(Track, Track.id == QuestionBank.track_id)
        .outerjoin(Enrolment, (Enrolment.track_id == QuestionBank.track_id)
                   & (Enrolment.user_id == bindparam("user_id", type_=Integer)))
        .where(QuestionBank.code == bindparam("code", type_=String))
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


def scheduler_for_bank(lms: Platform, session: Session, bank: QuestionBank,
                       user_id: int) -> Scheduler:
    """The bank's configured scheduler, bound to the learner (their own parameters, if any)."""
    track_code = session.scalar(select(Track.code).where(Track.id == bank.track_id))
    return lms.scheduler_for(track_code, bank.code).for_learner(session, user_id)


# -- next items --------------------------------------------------------------------------------


def next_items(lms: Platform, session: Session, user: User, bank: QuestionBank, limit: int,
               now: datetime) -> list[Item]:
    """Due cards (most overdue first), then new items in facet, difficulty, id order while the
    day's new-item allowance lasts. One statement, built once: this is the hottest read in the
    product, so neither extra round trips nor rebuilding the query are paid per request."""
    return list(session.scalars(_next_items_statement(), {
        "user_id": user.id, "bank_id": bank.id, "now": now, "limit": limit,
        "day_start": local_day_start(user, now),
        "new_per_day": lms.settings.reviews.new_per_day,
    }).unique())


@functools.cache
def _next_items_statement():
    user_id, bank_id = bindparam("user_id", type_=Integer), bindparam("bank_id", type_=Integer)
    limit = bindparam("limit", type_=Integer)
    due = (
        select(*Item.__table__.c, literal(0).label("part"), CardState.due_at,
               CardState.id.label("card_id"))
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
    seen = exists().where(CardState.user_id == user_id, CardState.item_id == Item.id)
    fresh = (
        select(*Item.__table__.c, literal(1).label("part"),
               literal(None, UTCDateTime()).label("due_at"),
               literal(None, Integer).label("card_id"))
        .where(Item.bank_id == bank_id, Item.archived_at.is_(None), ~seen)
        .order_by(Item.facet_id, Item.difficulty, Item.id)
        .limit(select(case((room.c.n > 0, room.c.n), else_=0)).scalar_subquery())
        .subquery("fresh")
    )
    picked = union_all(select(due), select(fresh)).subquery("picked")
    item = aliased(Item, picked)
    return (
        select(item)
        .order_by(picked.c.part, picked.c.due_at, picked.c.card_id, picked.c.facet_id,
                  picked.c.difficulty, picked.c.id)
        .options(joinedload(item.facet, innerjoin=True))
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
    if item.type in SELF_RATED:
        raise _invalid("rating", "Compare with the model answer and rate yourself.")
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
    if (data.rating is None) == (not has_answer):  # neither, or both
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
    if card is None:
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
    events.emit(session, ReviewAnswered(user_id=user.id, item_id=item.id, rating=rating.value,
                                        correct=correct, due_at=after.due_at.isoformat()))
    session.commit()
    return response


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


def stats(lms: Platform, session: Session, user: User, bank: QuestionBank,
          now: datetime) -> dict[str, Any]:
    return stats_for_banks(lms, session, user, [bank], now)[bank.id]


def stats_for_banks(lms: Platform, session: Session, user: User, banks: list[QuestionBank],
                    now: datetime) -> dict[int, dict[str, Any]]:
    """Per bank id: due now and today, new items available, learned, 30-day retention, streak,
    facet mastery and a 30-day due forecast. Each query covers every bank at once (grouped by
    bank), so a dashboard with ten banks costs what one bank does."""
    settings = lms.settings.reviews
    bank_ids = [bank.id for bank in banks]
    day_start = local_day_start(user, now)
    day_end = day_start + timedelta(days=1)
    zone = ZoneInfo(user.timezone or "UTC")
    today = now.astimezone(zone).date()
    cards = _cards_of(session, user, bank_ids)
    unseen = dict(session.execute(
        select(Item.bank_id, func.count()).where(
            Item.bank_id.in_(bank_ids), Item.archived_at.is_(None),
            ~exists().where(CardState.user_id == user.id, CardState.item_id == Item.id),
        ).group_by(Item.bank_id)
    ).all())
    logs = ReviewLog.user_id == user.id, ReviewLog.bank_id.in_(bank_ids)
    new_today = dict(session.execute(
        select(ReviewLog.bank_id, func.count()).where(
            *logs, ReviewLog.state_before.is_(None), ReviewLog.reviewed_at >= day_start,
        ).group_by(ReviewLog.bank_id)
    ).all())
    recall = {bank_id: (total, kept) for bank_id, total, kept in session.execute(
        select(ReviewLog.bank_id, func.count(),
               func.sum(case((ReviewLog.rating != "again", 1), else_=0)))
        .where(*logs, ReviewLog.state_before.is_not(None),
               ReviewLog.reviewed_at >= now - timedelta(days=30))
        .group_by(ReviewLog.bank_id)
    )}
    streak = streak_days(session, user, now)
    mastery = _facet_mastery(lms, session, user, banks, cards, now)
    out = {}
    for bank in banks:
        mine = cards.get(bank.id, [])
        forecast_counts: dict[int, int] = defaultdict(int)
        for card in mine:
            if card.due_at < day_start + timedelta(days=30):
                forecast_counts[max(0, (card.due_at.astimezone(zone).date() - today).days)] += 1
        total, kept = recall.get(bank.id, (0, 0))
        left_today = settings.new_per_day - new_today.get(bank.id, 0)
        facets = mastery[bank.id]
        out[bank.id] = {
            "bank": bank.code,
            "due_now": sum(card.due_at <= now for card in mine),
            "due_today": sum(card.due_at < day_end for card in mine),
            "new_available": max(0, min(unseen.get(bank.id, 0), left_today)),
            "learned": sum(card.interval_days >= settings.mastery_interval_days
                           for card in mine),
            "retention_30d": round((kept or 0) / total, 4) if total else None,
            "streak_days": streak, "facets": facets,
            "struggling": [f for f in facets if f["struggling"]],
            "forecast": [{"date": (today + timedelta(days=n)).isoformat(),
                          "due": forecast_counts[n]} for n in range(30)],
        }
    return out


def _cards_of(session: Session, user: User, bank_ids: list[int]) -> dict[int, list[Any]]:
    """The learner's card states in these banks, as plain rows grouped by bank id."""
    grouped: dict[int, list[Any]] = defaultdict(list)
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


def daily_activity(session: Session, user: User, days: list[date],
                   until: datetime | None = None) -> dict[date, DayActivity]:
    """Review counts per local day of the learner (their time zone, DST included), counted by
    the database: one statement whatever the number of reviews, nothing read row by row.
    Days without reviews are absent. ``until`` ignores reviews after that instant."""
    if not days:
        return {}
    zone = ZoneInfo(user.timezone or "UTC")
    params: dict[str, Any] = {"user_id": user.id}
    for n, day in enumerate(days):
        high = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
        if until is not None:
            high = min(high, until + timedelta(microseconds=1))
        params[f"low_{n}"] = datetime.combine(day, time(), zone).astimezone(UTC)
        params[f"high_{n}"] = high
    rows = session.execute(_daily_activity_statement(len(days)), params)
    return {days[n]: DayActivity(count, recalls or 0, recalled or 0)
            for n, count, recalls, recalled in rows}


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
    today = now.astimezone(ZoneInfo(user.timezone or "UTC")).date()
    streak, day, first = 0, today, True
    while True:
        days = [day - timedelta(days=n) for n in range(_STREAK_WINDOW)]
        active = daily_activity(session, user, days, until=now)
        for candidate in days:
            if candidate in active:
                streak += 1
            elif not (first and candidate == today):  # nothing yet today: count from yesterday
                return streak
            first = False
        day = days[-1] - timedelta(days=1)


def facet_mastery(lms: Platform, session: Session, user: User, bank: QuestionBank,
                  now: datetime) -> list[dict[str, Any]]:
    """Per facet: the share of its items the learner masters (interval ≥ the mastery
    interval, or the scheduler's recall estimate where it has one), and review counts."""
    return _facet_mastery(lms, session, user, [bank], _cards_of(session, user, [bank.id]),
                          now)[bank.id]


def _facet_mastery(lms: Platform, session: Session, user: User, banks: list[QuestionBank],
                   cards: dict[int, list[Any]], now: datetime) -> dict[int, list[dict[str, Any]]]:
    settings = lms.settings.reviews
    bank_ids = [bank.id for bank in banks]
    totals: dict[int, dict[int, int]] = defaultdict(dict)
    for bank_id, facet_id, count in session.execute(
        select(Item.bank_id, Item.facet_id, func.count())
        .where(Item.bank_id.in_(bank_ids), Item.archived_at.is_(None))
        .group_by(Item.bank_id, Item.facet_id)
    ):
        totals[bank_id][facet_id] = count
    reviews = dict(session.execute(
        select(Item.facet_id, func.count()).join(ReviewLog, ReviewLog.item_id == Item.id)
        .where(ReviewLog.user_id == user.id, Item.bank_id.in_(bank_ids))
        .group_by(Item.facet_id)
    ).all())
    facet_ids = [facet_id for per_bank in totals.values() for facet_id in per_bank]
    names = dict(session.execute(
        select(BankNode.id, BankNode.path).where(BankNode.id.in_(facet_ids))
    ).all()) if facet_ids else {}
    track_codes = dict(session.execute(
        select(Track.id, Track.code).where(Track.id.in_({b.track_id for b in banks}))
    ).all())
    out = {}
    for bank in banks:
        scheduler = lms.scheduler_for(track_codes.get(bank.track_id), bank.code) \
            .for_learner(session, user.id)
        mastered: dict[int, float] = defaultdict(float)
        for card in cards.get(bank.id, []):
            estimate = None
            if card.scheduler == scheduler.name:
                estimate = scheduler.retrievability(State(
                    due_at=card.due_at, interval_days=card.interval_days, data=card.data), now)
            mastered[card.facet_id] += estimate if estimate is not None else float(
                card.interval_days >= settings.mastery_interval_days)
        facets = []
        for facet_id, total in sorted(totals[bank.id].items(),
                                      key=lambda kv: names.get(kv[0], "")):
            mastery = round(mastered[facet_id] / total, 4) if total else 0.0
            count = reviews.get(facet_id, 0)
            facets.append({
                "facet": names.get(facet_id, ""), "items": total, "reviews": count,
                "mastery": mastery,
                "struggling": mastery < settings.struggling_below
                and count >= settings.struggling_min_reviews,
            })
        out[bank.id] = facets
    return out


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
    mastery = _facet_mastery(lms, session, user, banks, _cards_of(session, user, bank_ids), now)
    return [{"bank": bank.code, **facet}
            for bank in banks for facet in mastery[bank.id] if facet["struggling"]]
