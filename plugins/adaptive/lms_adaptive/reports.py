"""Trainer views: struggling learners with the evidence, and item calibration.

Which learners a trainer sees: those assigned to them (``users.trainer_id``); admins see every
student."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lmscore.models import BankNode, Item, QuestionBank, Role, User
from lmscore.services.permissions import Action, can, require

from . import evidence
from .models import ItemParameters, PathSnapshot

FALLING_BY = 0.05
MISSED_REVIEWS_MIN = 5
FAILURES_MIN = 2


@dataclass
class Struggling:
    learner: User
    signals: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)


def learners_of(session: Session, staff: User) -> list[User]:
    require(staff, Action.REVIEW_SUBMISSIONS)
    query = select(User).where(User.role == Role.STUDENT.value).order_by(User.name, User.id)
    if not can(staff, Action.VIEW_ANY_USER):
        query = query.where(User.trainer_id == staff.id)
    return list(session.scalars(query))


def struggling(session: Session, staff: User, settings: dict[str, Any],
               now: datetime) -> list[Struggling]:
    out = []
    for learner in learners_of(session, staff):
        found = Struggling(learner)
        snapshots = session.scalars(select(PathSnapshot).where(
            PathSnapshot.user_id == learner.id).order_by(PathSnapshot.week_start.desc())
            .limit(2)).all()
        week = evidence.week(session, learner.id, now)
        earlier = snapshots[0].metrics.get("mean_mastery") if snapshots else None
        if len(snapshots) == 2 and snapshots[0].created_at > now - timedelta(days=1):
            earlier = snapshots[1].metrics.get("mean_mastery")  # this week's is "now"
        if (earlier is not None and week.mean_mastery is not None
                and week.mean_mastery < earlier - FALLING_BY):
            found.signals.append(f"mean mastery fell from {earlier * 100:.0f} % to "
                                 f"{week.mean_mastery * 100:.0f} %")
            found.evidence.update(mastery_before=round(earlier, 3),
                                  mastery_now=round(week.mean_mastery, 3))
        weak = [m for m in evidence.facet_mastery(session, learner.id)
                if m.observations >= 3 and m.p_mastery < settings["revise_mastery_below"]]
        if weak:
            found.evidence["weak_facets"] = {m.facet: round(m.p_mastery, 3) for m in weak}
        if week.overdue_reviews >= MISSED_REVIEWS_MIN:
            found.signals.append(f"{week.overdue_reviews} reviews more than a day overdue")
            found.evidence["overdue_reviews"] = week.overdue_reviews
        failed = [q for q in evidence.recent_quizzes(session, learner.id,
                                                     now - timedelta(days=14))
                  if q.passed is False]
        if len(failed) >= FAILURES_MIN:
            found.signals.append(f"{len(failed)} failed quiz attempts in 14 days")
            found.evidence["failed_attempts"] = [
                {"quiz": q.quiz_id, "percent": q.percent} for q in failed]
        if found.signals:
            out.append(found)
    return out


@dataclass(frozen=True)
class ItemRow:
    item_id: int
    prompt: str
    bank: str
    facet: str
    difficulty: float
    discrimination: float
    responses: int
    p_correct: float
    flags: tuple[str, ...]


def item_calibration(session: Session, staff: User, settings: dict[str, Any],
                     *, flagged_only: bool = True) -> list[ItemRow]:
    """Calibrated items with at least ``irt_min_responses`` answers, flagged too easy, too
    hard or non-discriminating (2PL only) by the configured thresholds."""
    require(staff, Action.VIEW_BANKS)
    rows = session.execute(
        select(ItemParameters, Item.prompt, QuestionBank.code, BankNode.path)
        .join(Item, Item.id == ItemParameters.item_id)
        .join(QuestionBank, QuestionBank.id == Item.bank_id)
        .join(BankNode, BankNode.id == Item.facet_id)
        .where(ItemParameters.responses >= settings["irt_min_responses"],
               Item.archived_at.is_(None))
        .order_by(QuestionBank.code, ItemParameters.difficulty)
    ).all()
    out = []
    for params, prompt, bank, facet in rows:
        flags = []
        if params.difficulty < settings["too_easy_below"]:
            flags.append("too easy")
        if params.difficulty > settings["too_hard_above"]:
            flags.append("too hard")
        if params.model == "2pl" and params.discrimination < settings["discrimination_below"]:
            flags.append("non-discriminating")
        if flags or not flagged_only:
            out.append(ItemRow(params.item_id, prompt, bank, facet, params.difficulty,
                               params.discrimination, params.responses, params.p_correct,
                               tuple(flags)))
    return out
