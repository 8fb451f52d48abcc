"""The attempt log the models learn from: graded answers to bank items, copied incrementally
from the review log and from finished quiz attempts into ``adaptive_observations``.

Reviews are read by id after the ``ingest.review`` watermark. Quiz answers become final when
their attempt finishes, so they are read by the attempt's ``finished_at`` after the
``ingest.quiz`` watermark, minus a short overlap (an attempt committed a moment late is not
missed); answers already copied (unique source, source_id) are skipped in the query.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, insert, select
from sqlalchemy.orm import Session

from lmscore.models import (
    AttemptQuestion,
    AttemptStatus,
    Item,
    QuizAttempt,
    QuizQuestion,
    ReviewLog,
)

from .models import Observation, Watermark

BATCH = 20_000
QUIZ_OVERLAP = timedelta(minutes=2)
FINISHED = (AttemptStatus.SUBMITTED.value, AttemptStatus.AUTO_CLOSED.value)


def watermark(session: Session, name: str) -> Watermark:
    row = session.get(Watermark, name)
    if row is None:
        row = Watermark(name=name, position=0)
        session.add(row)
        session.flush()
    return row


def _ingest_reviews(session: Session) -> int:
    mark = watermark(session, "ingest.review")
    rows = session.execute(
        select(ReviewLog.id, ReviewLog.user_id, ReviewLog.item_id, Item.facet_id,
               ReviewLog.correct, ReviewLog.rating, ReviewLog.reviewed_at)
        .join(Item, Item.id == ReviewLog.item_id)
        .where(ReviewLog.id > mark.position).order_by(ReviewLog.id).limit(BATCH)
    ).all()
    if rows:
        # Self-rated cards (theory, scenario) have no grade: "again" is the learner's "wrong".
        session.execute(insert(Observation), [
            {"user_id": r.user_id, "item_id": r.item_id, "facet_id": r.facet_id,
             "correct": r.correct if r.correct is not None else r.rating != "again",
             "observed_at": r.reviewed_at, "source": "review", "source_id": r.id}
            for r in rows])
        mark.position = rows[-1].id
    return len(rows)


def _ingest_quizzes(session: Session) -> int:
    mark = watermark(session, "ingest.quiz")
    since = (mark.at - QUIZ_OVERLAP) if mark.at else datetime(1970, 1, 1, tzinfo=UTC)
    copied = exists().where(Observation.source == "quiz",
                            Observation.source_id == AttemptQuestion.id)
    rows = session.execute(
        select(AttemptQuestion.id, QuizAttempt.user_id, QuizQuestion.item_id, Item.facet_id,
               AttemptQuestion.score, QuizQuestion.points, QuizAttempt.finished_at)
        .join(QuizAttempt, QuizAttempt.id == AttemptQuestion.attempt_id)
        .join(QuizQuestion, QuizQuestion.id == AttemptQuestion.quiz_question_id)
        .join(Item, Item.id == QuizQuestion.item_id)
        .where(QuizAttempt.status.in_(FINISHED), QuizAttempt.finished_at >= since,
               AttemptQuestion.needs_manual_review.is_(False), ~copied)
        .order_by(QuizAttempt.finished_at, AttemptQuestion.id).limit(BATCH)
    ).all()
    if rows:
        session.execute(insert(Observation), [
            {"user_id": r.user_id, "item_id": r.item_id, "facet_id": r.facet_id,
             # Full marks count as right: partial credit is not mastery.
             "correct": (r.score or 0) >= r.points, "observed_at": r.finished_at,
             "source": "quiz", "source_id": r.id}
            for r in rows])
        if mark.at is None or rows[-1].finished_at > mark.at:
            mark.at = rows[-1].finished_at
    return len(rows)


def ingest(session: Session, budget_s: float) -> int:
    """Copy new answers until none is left or ``budget_s`` is spent. Commits per batch.
    Returns how many were copied."""
    deadline = time.monotonic() + budget_s
    copied = 0
    for step in (_ingest_reviews, _ingest_quizzes):
        while time.monotonic() < deadline:
            added = step(session)
            session.commit()
            if added == 0:
                break
            copied += added
    return copied
