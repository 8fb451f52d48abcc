"""What the API and the web pages show of quizzes and attempts.

One place decides what a viewer sees of an attempt's questions: scores and feedback only once
``quizzes.reveal`` allows, answer keys and explanations only after the attempt has ended.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import AttemptQuestion, Quiz, QuizAttempt, User
from . import quizzes

QUESTION_FIELDS = ("id", "position", "type", "prompt", "options", "option_order", "selected",
                   "text", "value", "saved_at", "points", "needs_manual_review")


def question_count(quiz: Quiz) -> int:
    """Questions per attempt: the quiz's own, or the size of its random draw."""
    return quiz.draw["count"] if quiz.draw else len(quiz.questions)


def correct(question: AttemptQuestion) -> bool | None:
    """Full marks; None while ungraded or waiting for a trainer."""
    if question.score is None or question.needs_manual_review:
        return None
    return question.score >= question.points


def attempt_questions(attempt: QuizAttempt, quiz: Quiz | None, viewer: User) -> list[dict]:
    """The attempt's questions as ``viewer`` may see them."""
    shown = quizzes.reveal(attempt, quiz, viewer)
    ended = shown and attempt.status in quizzes.FINISHED
    rows = []
    for q in attempt.questions:
        graded = shown and q.score is not None
        row = {key: getattr(q, key) for key in QUESTION_FIELDS}
        row.update({
            "score": q.score if graded else None,
            "correct": correct(q) if graded else None,
            "feedback": q.feedback if graded else None,
            "details": q.grading_details if graded else None,
            "explanation": q.explanation if ended else None,
            "answer": q.answer if ended else None,
            # A code answer waits for its background job (GRADE_CODE_JOB).
            "being_tested": shown and q.score is None and q.feedback == quizzes.GRADING_FEEDBACK,
        })
        rows.append(row)
    return rows


def saved_answer(question: AttemptQuestion) -> dict[str, Any]:
    """The reply to an autosave; correctness is set only when the quiz gives it at once."""
    graded = question.score is not None
    return {"question_id": question.id, "saved_at": question.saved_at,
            "correct": correct(question) if graded else None,
            "feedback": question.feedback if graded else None}


def attempt_summaries(session: Session, user: User,
                      quiz_ids: list[int]) -> dict[int, tuple[int, float | None]]:
    """Per quiz: (attempts the user started, best percent of the finished ones)."""
    if not quiz_ids:
        return {}
    rows = session.execute(
        select(QuizAttempt.quiz_id, func.count(), func.max(QuizAttempt.percent))
        .where(QuizAttempt.user_id == user.id, QuizAttempt.quiz_id.in_(quiz_ids))
        .group_by(QuizAttempt.quiz_id)
    ).all()
    return {quiz_id: (used, best) for quiz_id, used, best in rows}


def own_attempts(session: Session, user: User, quiz_id: int) -> list[QuizAttempt]:
    """The user's own attempts at one quiz, newest first (staff included: their previews)."""
    return list(session.scalars(
        quizzes.attempts_query(user, quiz_id).where(QuizAttempt.user_id == user.id)))


def pending_manual(session: Session, quiz_id: int) -> list[tuple[QuizAttempt, AttemptQuestion]]:
    """Ended attempts' answers that wait for a trainer's score, oldest first."""
    return [(attempt, question) for attempt, question in session.execute(
        select(QuizAttempt, AttemptQuestion)
        .join(AttemptQuestion, AttemptQuestion.attempt_id == QuizAttempt.id)
        .where(QuizAttempt.quiz_id == quiz_id, QuizAttempt.status.in_(quizzes.FINISHED),
               AttemptQuestion.needs_manual_review.is_(True))
        .order_by(QuizAttempt.finished_at, AttemptQuestion.position)
    )]
