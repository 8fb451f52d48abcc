"""The numbers recommendations, weekly paths and the trainer report are built on: one place,
so a reason shown to a learner and the report shown to a trainer agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from lmscore.models import (
    AttemptStatus,
    BankNode,
    CardState,
    QuestionBank,
    QuizAttempt,
    ReviewLog,
    Step,
    StepCompletion,
)

from .models import Mastery, Observation

FINISHED = (AttemptStatus.SUBMITTED.value, AttemptStatus.AUTO_CLOSED.value)


@dataclass(frozen=True)
class FacetMastery:
    facet_id: int
    facet: str  # path
    bank: str
    p_mastery: float
    observations: int
    correct: int


def facet_mastery(session: Session, user_id: int) -> list[FacetMastery]:
    rows = session.execute(
        select(Mastery, BankNode.path, QuestionBank.code)
        .join(BankNode, BankNode.id == Mastery.facet_id)
        .join(QuestionBank, QuestionBank.id == BankNode.bank_id)
        .where(Mastery.user_id == user_id).order_by(QuestionBank.code, BankNode.path)
    ).all()
    return [FacetMastery(m.facet_id, path, bank, m.p_mastery, m.observations, m.correct)
            for m, path, bank in rows]


def recent_quiz_facets(session: Session, user_id: int,
                       since: datetime) -> dict[int, tuple[int, int]]:
    """Per facet: (right, asked) in quiz answers since ``since``."""
    rows = session.execute(
        select(Observation.facet_id, func.sum(case((Observation.correct, 1), else_=0)),
               func.count())
        .where(Observation.user_id == user_id, Observation.source == "quiz",
               Observation.observed_at >= since)
        .group_by(Observation.facet_id)
    ).all()
    return {facet: (int(right or 0), int(asked)) for facet, right, asked in rows}


def recent_quizzes(session: Session, user_id: int, since: datetime) -> list[QuizAttempt]:
    return list(session.scalars(
        select(QuizAttempt).where(QuizAttempt.user_id == user_id,
                                  QuizAttempt.status.in_(FINISHED),
                                  QuizAttempt.finished_at >= since)
        .order_by(QuizAttempt.finished_at)))


@dataclass(frozen=True)
class Week:
    """A learner's last 7 days."""

    quiz_average: float | None  # percent
    quizzes: int
    quizzes_failed: int
    steps_completed: int
    reviews: int  # reviews of cards seen before (recall tests)
    retention: float | None  # share of those not rated "again"
    overdue_reviews: int  # cards more than a day overdue now
    mean_mastery: float | None

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v)
                for k, v in self.__dict__.items()}


def week(session: Session, user_id: int, now: datetime) -> Week:
    since = now - timedelta(days=7)
    quizzes = recent_quizzes(session, user_id, since)
    percents = [q.percent or 0.0 for q in quizzes]
    steps = session.scalar(select(func.count()).select_from(StepCompletion)
                           .join(Step, Step.id == StepCompletion.step_id)
                           .where(StepCompletion.user_id == user_id,
                                  StepCompletion.completed_at >= since)) or 0
    recall = session.execute(select(
        func.count(), func.sum(case((ReviewLog.rating != "again", 1), else_=0))
    ).where(ReviewLog.user_id == user_id, ReviewLog.state_before.is_not(None),
            ReviewLog.reviewed_at >= since, ReviewLog.reviewed_at < now)).one()
    overdue = session.scalar(select(func.count()).select_from(CardState).where(
        CardState.user_id == user_id, CardState.due_at < now - timedelta(days=1))) or 0
    mastery = session.scalar(select(func.avg(Mastery.p_mastery))
                             .where(Mastery.user_id == user_id))
    return Week(
        quiz_average=sum(percents) / len(percents) if percents else None,
        quizzes=len(quizzes), quizzes_failed=sum(1 for q in quizzes if q.passed is False),
        steps_completed=steps, reviews=recall[0] or 0,
        retention=(recall[1] or 0) / recall[0] if recall[0] else None,
        overdue_reviews=overdue,
        mean_mastery=float(mastery) if mastery is not None else None)
