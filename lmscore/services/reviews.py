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

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from ..capabilities import Answer, GradableItem, Rating
from ..capabilities import CardState as State
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..events import ReviewAnswered
from ..models import BankNode, CardState, Item, QuestionBank, ReviewLog, Track, User
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
    bank = session.scalar(select(QuestionBank).where(QuestionBank.code == code.upper()))
    if bank is None:
        raise NotFound(f"No question bank {code!r}.")
    _require_access(session, user, bank)
    return bank


def _require_access(session: Session, user: User, bank: QuestionBank) -> None:
    if bank.track_id is None or learning.is_staff(user):
        return
    track = session.get(Track, bank.track_id)
    if track is None or not learning.can_see_content(session, user, track):
        raise PermissionDenied(f"Enrol in {track.name if track else 'the track'} to review "
                               "its questions.")


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


def new_items_today(session: Session, user: User, bank: QuestionBank, now: datetime) -> int:
    return session.scalar(
        select(func.count()).select_from(ReviewLog).where(
            ReviewLog.user_id == user.id, ReviewLog.bank_id == bank.id,
            ReviewLog.state_before.is_(None), ReviewLog.reviewed_at >= local_day_start(user, now),
        )
    ) or 0


# The response shows each item's facet path: load facets in the same query, not one by one.
_WITH_FACET = joinedload(Item.facet, innerjoin=True)


def next_items(lms: Platform, session: Session, user: User, bank: QuestionBank, limit: int,
               now: datetime) -> list[Item]:
    due = list(session.scalars(
        select(Item).join(CardState, CardState.item_id == Item.id).where(
            CardState.user_id == user.id, CardState.bank_id == bank.id,
            CardState.due_at <= now, Item.archived_at.is_(None),
        ).order_by(CardState.due_at, CardState.id).limit(limit).options(_WITH_FACET)
    ))
    room = min(limit - len(due),
               lms.settings.reviews.new_per_day - new_items_today(session, user, bank, now))
    if room <= 0:
        return due
    seen = exists().where(CardState.user_id == user.id, CardState.item_id == Item.id)
    fresh = session.scalars(
        select(Item).where(Item.bank_id == bank.id, Item.archived_at.is_(None), ~seen)
        .order_by(Item.facet_id, Item.difficulty, Item.id).limit(room).options(_WITH_FACET)
    )
    return due + list(fresh)


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
    settings = lms.settings.reviews
    day_start = local_day_start(user, now)
    day_end = day_start + timedelta(days=1)
    cards = CardState.user_id == user.id, CardState.bank_id == bank.id
    due_now = session.scalar(select(func.count()).where(*cards, CardState.due_at <= now)) or 0
    due_today = session.scalar(select(func.count()).where(*cards, CardState.due_at < day_end)) or 0
    learned = session.scalar(select(func.count()).where(
        *cards, CardState.interval_days >= settings.mastery_interval_days)) or 0
    unseen = session.scalar(select(func.count()).select_from(Item).where(
        Item.bank_id == bank.id, Item.archived_at.is_(None),
        ~exists().where(CardState.user_id == user.id, CardState.item_id == Item.id),
    )) or 0
    left_today = settings.new_per_day - new_items_today(session, user, bank, now)
    new_available = max(0, min(unseen, left_today))

    logs = ReviewLog.user_id == user.id, ReviewLog.bank_id == bank.id
    recall = session.execute(select(
        func.count(), func.sum(case((ReviewLog.rating != "again", 1), else_=0))
    ).where(*logs, ReviewLog.state_before.is_not(None),
            ReviewLog.reviewed_at >= now - timedelta(days=30))).one()
    retention = round((recall[1] or 0) / recall[0], 4) if recall[0] else None

    zone = ZoneInfo(user.timezone or "UTC")
    today = now.astimezone(zone).date()
    streak = streak_days(session, user, now)

    forecast_counts: dict[int, int] = defaultdict(int)
    for due in session.scalars(select(CardState.due_at).where(
            *cards, CardState.due_at < day_start + timedelta(days=30))):
        offset = max(0, (due.astimezone(zone).date() - today).days)
        forecast_counts[offset] += 1
    forecast = [{"date": (today + timedelta(days=n)).isoformat(), "due": forecast_counts[n]}
                for n in range(30)]
    facets = facet_mastery(lms, session, user, bank, now)
    return {
        "bank": bank.code, "due_now": due_now, "due_today": due_today,
        "new_available": new_available, "learned": learned, "retention_30d": retention,
        "streak_days": streak, "facets": facets,
        "struggling": [f for f in facets if f["struggling"]], "forecast": forecast,
    }


def streak_days(session: Session, user: User, now: datetime) -> int:
    """Consecutive local days with at least one review (in any bank), ending today, or
    yesterday when nothing is reviewed yet today. Reads newest first and stops at the first
    gap, so it costs the length of the streak, not of the history."""
    zone = ZoneInfo(user.timezone or "UTC")
    today = now.astimezone(zone).date()
    expected, streak = today, 0
    rows = session.scalars(
        select(ReviewLog.reviewed_at).where(ReviewLog.user_id == user.id,
                                            ReviewLog.reviewed_at <= now)
        .order_by(ReviewLog.reviewed_at.desc()).execution_options(yield_per=500)
    )
    for reviewed_at in rows:
        day = reviewed_at.astimezone(zone).date()
        if day == expected:
            streak += 1
            expected -= timedelta(days=1)
        elif day == today - timedelta(days=1) and streak == 0:
            streak, expected = 1, day - timedelta(days=1)  # nothing yet today
        elif day < expected:
            break
    rows.close()
    return streak


def facet_mastery(lms: Platform, session: Session, user: User, bank: QuestionBank,
                  now: datetime) -> list[dict[str, Any]]:
    """Per facet: the share of its items the learner masters (interval ≥ the mastery
    interval, or the scheduler's recall estimate where it has one), and review counts."""
    settings = lms.settings.reviews
    scheduler = scheduler_for_bank(lms, session, bank, user.id)
    totals = dict(session.execute(
        select(Item.facet_id, func.count())
        .where(Item.bank_id == bank.id, Item.archived_at.is_(None))
        .group_by(Item.facet_id)
    ).all())
    reviews = dict(session.execute(
        select(Item.facet_id, func.count()).join(ReviewLog, ReviewLog.item_id == Item.id)
        .where(ReviewLog.user_id == user.id, Item.bank_id == bank.id).group_by(Item.facet_id)
    ).all())
    mastered: dict[int, float] = defaultdict(float)
    for card, facet_id in session.execute(
        select(CardState, Item.facet_id).join(Item, Item.id == CardState.item_id)
        .where(CardState.user_id == user.id, CardState.bank_id == bank.id)
    ):
        estimate = None
        if card.scheduler == scheduler.name:
            estimate = scheduler.retrievability(
                State(due_at=card.due_at, interval_days=card.interval_days, data=card.data), now)
        mastered[facet_id] += estimate if estimate is not None else float(
            card.interval_days >= settings.mastery_interval_days)
    names = dict(session.execute(
        select(BankNode.id, BankNode.path).where(BankNode.id.in_(list(totals)))
    ).all())
    out = []
    for facet_id, total in sorted(totals.items(), key=lambda kv: names.get(kv[0], "")):
        mastery = round(mastered[facet_id] / total, 4) if total else 0.0
        count = reviews.get(facet_id, 0)
        out.append({
            "facet": names.get(facet_id, ""), "items": total, "reviews": count,
            "mastery": mastery,
            "struggling": mastery < settings.struggling_below
            and count >= settings.struggling_min_reviews,
        })
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
    out = []
    for bank in session.scalars(select(QuestionBank).where(QuestionBank.id.in_(bank_ids))
                                .order_by(QuestionBank.code)):
        out += [{"bank": bank.code, **facet}
                for facet in facet_mastery(lms, session, user, bank, now) if facet["struggling"]]
    return out
