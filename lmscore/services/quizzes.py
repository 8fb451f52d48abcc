"""Quizzes: authoring, generation, attempts with autosave and auto-close, grading, statistics.

Attempt lifecycle: ``in_progress`` → ``submitted`` by the learner, or ``auto_closed`` once the
deadline (plus ``[quizzes] grace_s``) has passed; an auto-closed attempt is graded from the
answers saved so far. Saving an answer is an idempotent upsert per (attempt, question) stamped
with the server time the request arrived; answers after the deadline plus grace are refused.
"""

from __future__ import annotations

import functools
import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Integer,
    bindparam,
    case,
    column,
    false,
    func,
    insert,
    or_,
    select,
    union,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ..capabilities import (
    Answer,
    GenerationError,
    GenerationRequest,
    GradableItem,
    SandboxError,
)
from ..capabilities.content import ItemSpec
from ..db import utcnow
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..events import QuizGenerated, QuizSubmitted
from ..models import (
    AttemptQuestion,
    AttemptStatus,
    BankNode,
    FeedbackTiming,
    GenerationStatus,
    Item,
    Project,
    QuestionBank,
    Quiz,
    QuizAttempt,
    QuizQuestion,
    QuizStatus,
    ReviewLog,
    Step,
    Track,
    User,
)
from . import answers, events, learning
from .banks import item_problem
from .permissions import Action, can, can_delete_quiz, require

if TYPE_CHECKING:
    from ..platform import Platform

log = logging.getLogger(__name__)
GENERATE_JOB = "lmscore.generate_quiz"
AUTO_CLOSE_JOB = "lmscore.close_expired_attempts"
GRADE_CODE_JOB = "lmscore.grade_code_answers"
#: The feedback of an answer whose grader runs in a background job, until it has run.
GRADING_FEEDBACK = "Your code is being tested…"
FINISHED = (AttemptStatus.SUBMITTED.value, AttemptStatus.AUTO_CLOSED.value)
SETTING_FIELDS = ("title", "description", "time_limit_s", "attempts_allowed",
                  "shuffle_questions", "shuffle_options", "pass_mark", "feedback_timing",
                  "available_from", "available_until", "draw")


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": {field_name: [message]}})


@dataclass(frozen=True)
class QuestionInput:
    type: str
    prompt: str
    options: dict[str, str] = field(default_factory=dict)
    answer: Any = None
    explanation: str = ""
    points: float = 1.0
    grader: str | None = None


# -- authoring ---------------------------------------------------------------------------------


def _track_id(session: Session, code: str | None) -> int | None:
    if not code:
        return None
    return learning.get_track(session, code).id


def _question_problem(q: QuestionInput) -> str | None:
    spec = ItemSpec(external_id="quiz-question", type=q.type, prompt=q.prompt,
                    options=q.options, answer=q.answer, facet_path=("q", "q", "q", "q"))
    if not 0 < q.points <= 100:
        return "points must be more than 0 and at most 100"
    return item_problem(spec)


def _check_draw(session: Session, draw: dict[str, Any] | None) -> None:
    if draw is None:
        return
    banks = draw.get("banks") or []
    if not banks or not isinstance(draw.get("count"), int) or not 1 <= draw["count"] <= 200:
        raise _invalid("draw", "A draw names banks and a count of 1 to 200.")
    codes = {str(code).upper() for code in banks}  # bank codes are upper case
    known = set(session.scalars(select(QuestionBank.code).where(QuestionBank.code.in_(codes))))
    missing = sorted(codes - known)
    if missing:
        raise _invalid("draw", f"Unknown bank {missing[0]!r}.")
    if session.scalar(_drawable(draw).with_only_columns(Item.id).limit(1)) is None:
        raise _invalid("draw", "No question in these banks matches the facets: learners "
                               "would get an empty quiz.")


def _check_window(data: dict[str, Any]) -> None:
    start, end = data.get("available_from"), data.get("available_until")
    if start and end and end <= start:
        raise _invalid("available_until", "The window must end after it starts.")


def create_quiz(session: Session, actor: User, data: dict[str, Any],
                questions: list[QuestionInput], item_ids: list[int]) -> Quiz:
    """A draft quiz from written questions and/or bank items (copied). Commits."""
    require(actor, Action.CREATE_QUIZ)
    _check_window(data)
    _check_draw(session, data.get("draw"))
    quiz = Quiz(owner_id=actor.id, track_id=_track_id(session, data.pop("track", None)),
                **{k: v for k, v in data.items() if k in SETTING_FIELDS})
    session.add(quiz)
    session.flush()
    _replace_questions(session, quiz, questions, item_ids)
    session.commit()
    return quiz


def _replace_questions(session: Session, quiz: Quiz, questions: list[QuestionInput],
                       item_ids: list[int]) -> None:
    rows: list[QuizQuestion] = []
    for n, q in enumerate(questions):
        problem = _question_problem(q)
        if problem:
            raise ValidationFailed(f"Question {n + 1}: {problem}.",
                                   details={"fields": {"questions": {str(n): [problem]}}})
        rows.append(QuizQuestion(type=q.type, prompt=q.prompt, options=q.options,
                                 answer=q.answer, explanation=q.explanation, points=q.points,
                                 grader=q.grader))
    if item_ids:
        items = {i.id: i for i in session.scalars(
            select(Item).where(Item.id.in_(item_ids), Item.archived_at.is_(None)))}
        missing = [i for i in item_ids if i not in items]
        if missing:
            raise _invalid("item_ids", f"No item with id {missing[0]}.")
        rows += [QuizQuestion(item_id=i.id, type=i.type, prompt=i.prompt, options=i.options,
                              answer=i.answer, explanation=i.explanation, grader=i.grader)
                 for i in (items[i] for i in item_ids)]
    # Rows an attempt asked stay, unchanged and retired, for that attempt; the others go.
    old = list(quiz.questions)
    asked = set(session.scalars(select(AttemptQuestion.quiz_question_id).where(
        AttemptQuestion.quiz_question_id.in_([q.id for q in old])).distinct())) if old else set()
    for row in old:
        if row.id in asked:
            row.retired_at = utcnow()
        else:
            session.delete(row)
    for position, row in enumerate(rows, start=1):
        row.quiz_id, row.position = quiz.id, position
    session.add_all(rows)
    session.flush()
    set_committed_value(quiz, "questions", rows)


def _require_editor(actor: User, quiz: Quiz) -> None:
    require(actor, Action.CREATE_QUIZ)
    if quiz.owner_id != actor.id and not can(actor, Action.DELETE_ANY_QUIZ):
        raise PermissionDenied("Only the quiz's author or an admin can change it.")


def update_quiz(session: Session, actor: User, quiz: Quiz, data: dict[str, Any],
                questions: list[QuestionInput] | None, item_ids: list[int] | None) -> Quiz:
    """Change settings (any time) and questions (drafts only: a published quiz's learners
    expect the questions they were told about). Commits."""
    _require_editor(actor, quiz)
    _check_window({"available_from": quiz.available_from, "available_until": quiz.available_until,
                   **data})
    if "draw" in data:
        _check_draw(session, data["draw"])
    if "track" in data:
        quiz.track_id = _track_id(session, data.pop("track"))
    if "status" in data:
        status = data.pop("status")
        if status == QuizStatus.PUBLISHED:
            raise _invalid("status", "Publish through the publish action, which checks the quiz.")
        quiz.status = status
    for key in SETTING_FIELDS:
        if key in data:
            setattr(quiz, key, data[key])
    if questions is not None or item_ids is not None:
        if quiz.status != QuizStatus.DRAFT:
            raise Conflict("Questions can only change while the quiz is a draft.")
        _replace_questions(session, quiz, questions or [], item_ids or [])
    session.commit()
    return quiz


def publish(session: Session, actor: User, quiz: Quiz) -> Quiz:
    _require_editor(actor, quiz)
    if quiz.generation_status in (GenerationStatus.QUEUED, GenerationStatus.GENERATING):
        raise Conflict("The quiz is still being generated.")
    if not quiz.questions and not quiz.draw:
        raise Conflict("Add questions (or a random draw) before publishing.")
    quiz.status = QuizStatus.PUBLISHED.value
    quiz.published_at = quiz.published_at or utcnow()
    session.commit()
    return quiz


def delete_quiz(session: Session, actor: User, quiz: Quiz) -> None:
    if not can_delete_quiz(actor, quiz.owner_id):
        raise PermissionDenied("Trainers can delete only their own quizzes.")
    session.delete(quiz)
    session.commit()


def _visible_to_learner(session: Session, user: User, quiz: Quiz) -> bool:
    if quiz.status != QuizStatus.PUBLISHED:
        return False
    if quiz.track_id is None:
        return True
    track = session.get(Track, quiz.track_id)
    return track is not None and learning.can_see_content(session, user, track)


def get_quiz(session: Session, user: User, quiz_id: int) -> Quiz:
    # One statement: starts come in bursts.
    quiz = session.scalars(select(Quiz).where(Quiz.id == quiz_id)
                           .options(joinedload(Quiz.questions))).unique().one_or_none()
    if quiz is None or not (learning.is_staff(user) or _visible_to_learner(session, user, quiz)):
        raise NotFound(f"No quiz with id {quiz_id}.")
    return quiz


def quizzes_query(session: Session, user: User, *, status: str | None = None,
                  track: str | None = None):
    query = select(Quiz).order_by(Quiz.id.desc())
    if track:
        query = query.where(Quiz.track_id == learning.get_track(session, track).id)
    if learning.is_staff(user):
        return query.where(Quiz.status == status) if status else query
    open_tracks = select(learning.Enrolment.track_id).where(
        learning.Enrolment.user_id == user.id,
        learning.Enrolment.status.in_(learning.OPEN_ENROLMENT),
    )
    return query.where(Quiz.status == QuizStatus.PUBLISHED.value,
                       or_(Quiz.track_id.is_(None), Quiz.track_id.in_(open_tracks)))


# -- generation --------------------------------------------------------------------------------


def request_generation(lms: Platform, session: Session, actor: User, *, title: str, prompt: str,
                       num_questions: int, generator: str | None, types: list[str],
                       difficulty: int, track: str | None) -> Quiz:
    """A draft quiz whose questions a background job generates. Commits."""
    require(actor, Action.CREATE_QUIZ)
    name = generator or lms.settings.quizzes.default_generator
    if name not in lms.quiz_generators:
        raise _invalid("generator", f"No quiz generator named {name!r}; available: "
                       f"{', '.join(lms.quiz_generators.names()) or 'none'}.")
    if not 1 <= num_questions <= lms.settings.quizzes.max_questions:
        raise _invalid("num_questions",
                       f"Ask for 1 to {lms.settings.quizzes.max_questions} questions.")
    quiz = Quiz(title=title, owner_id=actor.id, track_id=_track_id(session, track),
                generator=name, generation_status=GenerationStatus.QUEUED.value,
                generation_request={"prompt": prompt, "num_questions": num_questions,
                                    "types": types, "difficulty": difficulty})
    session.add(quiz)
    session.flush()
    events.job_after_commit(session, GENERATE_JOB, quiz_id=quiz.id)
    session.commit()
    return quiz


def track_text(session: Session, track_id: int) -> str:
    """A track's step texts, the grounding for generated questions."""
    return "\n\n".join(session.scalars(
        select(Step.body_markdown).join(Project, Project.id == Step.project_id)
        .where(Project.track_id == track_id, Step.archived_at.is_(None))
        .order_by(Project.number, Step.number)
    ))


def generate(lms: Platform, quiz_id: int) -> None:
    """Job: ask the quiz's generator for questions and store them as the draft's questions."""
    session = lms.db.session
    quiz = session.get(Quiz, quiz_id)
    if quiz is None or quiz.generation_status not in (GenerationStatus.QUEUED,
                                                      GenerationStatus.GENERATING):
        return
    quiz.generation_status = GenerationStatus.GENERATING.value
    session.commit()
    spec = quiz.generation_request or {}
    track_code = session.scalar(select(Track.code).where(Track.id == quiz.track_id))
    request = GenerationRequest(
        title=quiz.title, prompt=spec.get("prompt", ""), num_questions=spec["num_questions"],
        types=tuple(spec.get("types") or ("mcq_single",)), difficulty=spec.get("difficulty", 3),
        track_code=track_code,
        grounding=track_text(session, quiz.track_id) if quiz.track_id else "",
    )
    try:
        generated = lms.quiz_generators.get(quiz.generator or "").generate(request)
        inputs = [QuestionInput(type=g.type, prompt=g.prompt, options=dict(g.options),
                                answer=g.correct[0] if g.type == "mcq_single" else list(g.correct),
                                explanation=g.explanation) for g in generated]
        _replace_questions(session, quiz, inputs, [])
    except (GenerationError, ValidationFailed, LookupError) as exc:
        session.rollback()
        quiz = session.get(Quiz, quiz_id)
        quiz.generation_status = GenerationStatus.FAILED.value
        quiz.generation_error = getattr(exc, "message", None) or str(exc)
        _emit_generated(session, quiz)
        session.commit()
        return
    quiz.generation_status = GenerationStatus.READY.value
    quiz.generation_error = None
    _emit_generated(session, quiz)
    session.commit()


def _emit_generated(session: Session, quiz: Quiz) -> None:
    events.emit(session, QuizGenerated(
        quiz_id=quiz.id, owner_id=quiz.owner_id, generator=quiz.generator or "",
        status=quiz.generation_status, error=quiz.generation_error or "",
    ))


# -- attempts ----------------------------------------------------------------------------------


def _drawable(draw: dict[str, Any]):
    """The live items a random draw picks from: its banks' (within its facets, if any)."""
    query = select(Item.id, Item.content_hash).join(
        QuestionBank, QuestionBank.id == Item.bank_id).where(
        QuestionBank.code.in_([str(code).upper() for code in draw["banks"]]),
        Item.archived_at.is_(None))
    if draw.get("facets"):
        query = query.join(BankNode, BankNode.id == Item.facet_id).where(
            or_(*[BankNode.path.startswith(f) for f in draw["facets"]]))
    return query


def _draw_items(session: Session, user: User, draw: dict[str, Any],
                rng: random.Random) -> dict[int, str]:
    """``count`` random items from the draw's banks (and facets), unseen ones first: their
    ids (in the drawn order) and content hashes."""
    candidates = list(session.execute(_drawable(draw)))
    seen = set(session.scalars(union(
        select(QuizQuestion.item_id)
        .join(AttemptQuestion, AttemptQuestion.quiz_question_id == QuizQuestion.id)
        .join(QuizAttempt, QuizAttempt.id == AttemptQuestion.attempt_id)
        .where(QuizAttempt.user_id == user.id),
        select(ReviewLog.item_id).where(ReviewLog.user_id == user.id),
    )))
    rng.shuffle(candidates)
    candidates.sort(key=lambda row: row.id in seen)  # stable: unseen first, random within
    return {row.id: row.content_hash for row in candidates[: draw["count"]]}


def _drawn_questions(session: Session, user: User, quiz: Quiz, rng: random.Random,
                     now: datetime) -> list[QuizQuestion]:
    """A random draw for one attempt, as the quiz's snapshot rows of the drawn items: an
    item's current snapshot is reused, a new or changed item is snapshotted (once)."""
    hashes = _draw_items(session, user, quiz.draw or {}, rng)
    snapshots: dict[int, QuizQuestion] = {}
    for row in session.scalars(select(QuizQuestion).where(
            QuizQuestion.quiz_id == quiz.id, QuizQuestion.drawn.is_(True),
            QuizQuestion.retired_at.is_(None), QuizQuestion.item_id.in_(list(hashes)))):
        if row.content_hash == hashes[row.item_id]:
            snapshots[row.item_id] = row
        else:  # the item changed since: its attempts keep the old content
            row.retired_at = now
    missing = [item_id for item_id in hashes if item_id not in snapshots]
    if missing:
        new = [QuizQuestion(quiz_id=quiz.id, position=0, drawn=True, item_id=i.id,
                            content_hash=i.content_hash, type=i.type, prompt=i.prompt,
                            options=i.options, answer=i.answer, explanation=i.explanation,
                            grader=i.grader, points=1.0)
               for i in session.scalars(select(Item).where(Item.id.in_(missing)))]
        session.add_all(new)
        snapshots.update((row.item_id, row) for row in new)
    return [snapshots[item_id] for item_id in hashes]


@functools.cache
def _attempt_questions_insert(dialect: str):
    """One INSERT … SELECT of an attempt's questions from a single JSON parameter ``rows``
    ([[position, quiz question id, option order], …]): a short statement whatever the number
    of questions (the driver caches its conversion, unlike a multi-row VALUES list), built
    once per dialect."""
    each = func.json_each if dialect == "sqlite" else func.json_array_elements
    value = each(bindparam("rows", type_=JSON)).table_valued(column("value", JSON)).c.value
    source = select(bindparam("attempt_id", type_=Integer), value[0].as_integer(),
                    value[1].as_integer(), value[2], false())
    table = AttemptQuestion.__table__
    inserted = insert(table).from_select(
        ["attempt_id", "position", "quiz_question_id", "option_order", "needs_manual_review"],
        source).returning(*table.c)
    # Loaded as ORM objects (an ORM INSERT would take the parameters as rows to insert).
    return select(AttemptQuestion).from_statement(inserted)


def _insert_attempt_questions(session: Session, attempt: QuizAttempt,
                              asked: list[tuple[QuizQuestion, list[str]]]) -> None:
    rows = [[position, question.id, order]
            for position, (question, order) in enumerate(asked, start=1)]
    inserted = session.scalars(_attempt_questions_insert(session.get_bind().dialect.name),
                               {"attempt_id": attempt.id, "rows": rows}).all()
    # The response is built from these objects: no reloading.
    by_id = {question.id: question for question, _order in asked}
    for row in inserted:
        set_committed_value(row, "question", by_id[row.quiz_question_id])
    set_committed_value(attempt, "questions", sorted(inserted, key=lambda q: q.position))


def start_attempt(lms: Platform, session: Session, user: User, quiz_id: int,
                  now: datetime) -> tuple[QuizAttempt, bool]:
    """The learner's running attempt, or a new one. Returns (attempt, created). Commits."""
    quiz = get_quiz(session, user, quiz_id)
    if quiz.status != QuizStatus.PUBLISHED:
        raise Conflict("This quiz is not published.")
    if quiz.available_from and now < quiz.available_from:
        raise Conflict(f"This quiz opens at {quiz.available_from.isoformat()}.")
    if quiz.available_until and now > quiz.available_until:
        raise Conflict("This quiz has closed.")
    # One query finds the running attempt and counts those used: starts come in bursts.
    mine = session.scalars(select(QuizAttempt).where(
        QuizAttempt.quiz_id == quiz.id, QuizAttempt.user_id == user.id)).all()
    running = next((a for a in mine if a.status == AttemptStatus.IN_PROGRESS), None)
    if running is not None:
        if not close_if_expired(lms, session, running, now):
            return running, False
    used = len(mine)
    if quiz.attempts_allowed is not None and used >= quiz.attempts_allowed:
        raise Conflict(f"You have used all {quiz.attempts_allowed} attempts of this quiz.")
    rng = random.Random()
    questions = (_drawn_questions(session, user, quiz, rng, now) if quiz.draw
                 else list(quiz.questions))
    if not questions:
        raise Conflict("This quiz has no questions to ask.")
    if quiz.shuffle_questions:
        rng.shuffle(questions)
    asked = []
    for question in questions:
        order = list(question.options)
        if quiz.shuffle_options:
            rng.shuffle(order)
        asked.append((question, order))
    deadline = now + timedelta(seconds=quiz.time_limit_s) if quiz.time_limit_s else None
    if quiz.available_until and (deadline is None or deadline > quiz.available_until):
        deadline = quiz.available_until
    attempt = QuizAttempt(quiz_id=quiz.id, user_id=user.id, number=used + 1, started_at=now,
                          deadline_at=deadline)
    session.add(attempt)
    try:
        session.flush()
    except IntegrityError:  # the same start arrived concurrently (a retry): the first one won
        session.rollback()
        running = session.scalar(select(QuizAttempt).where(
            QuizAttempt.quiz_id == quiz_id, QuizAttempt.user_id == user.id,
            QuizAttempt.status == AttemptStatus.IN_PROGRESS.value))
        if running is None:
            raise
        return running, False
    set_committed_value(attempt, "quiz", quiz)
    _insert_attempt_questions(session, attempt, asked)
    session.commit()
    return attempt, True


def get_attempt(lms: Platform, session: Session, user: User, attempt_id: int,
                now: datetime) -> QuizAttempt:
    """An attempt its learner (or staff) may see; an expired one is closed first."""
    attempt = session.scalar(select(QuizAttempt).where(QuizAttempt.id == attempt_id)
                             .options(selectinload(QuizAttempt.questions)))
    if attempt is None or not (attempt.user_id == user.id or learning.is_staff(user)):
        raise NotFound(f"No attempt with id {attempt_id}.")
    close_if_expired(lms, session, attempt, now)
    return attempt


def _expired(lms: Platform, attempt: QuizAttempt, now: datetime) -> bool:
    grace = timedelta(seconds=lms.settings.quizzes.grace_s)
    return attempt.deadline_at is not None and now > attempt.deadline_at + grace


def close_if_expired(lms: Platform, session: Session, attempt: QuizAttempt, now: datetime) -> bool:
    if attempt.status != AttemptStatus.IN_PROGRESS or not _expired(lms, attempt, now):
        return False
    _finish(lms, session, attempt, AttemptStatus.AUTO_CLOSED, now)
    return True


@dataclass(frozen=True)
class AnswerInput:
    selected: list[str] | None = None
    text: str | None = None
    value: float | None = None


def save_answer(lms: Platform, session: Session, user: User, attempt_id: int, question_id: int,
                data: AnswerInput, now: datetime) -> AttemptQuestion:
    """Upsert the answer to one question (stamped with ``now``, the server time). Commits."""
    attempt = session.scalar(select(QuizAttempt).where(
        QuizAttempt.id == attempt_id, QuizAttempt.user_id == user.id))
    if attempt is None:
        raise NotFound(f"No attempt with id {attempt_id}.")
    if attempt.status == AttemptStatus.IN_PROGRESS and _expired(lms, attempt, now):
        close_if_expired(lms, session, attempt, now)
    if attempt.status != AttemptStatus.IN_PROGRESS:
        raise Conflict("Time is up: this attempt is closed and answers can no longer change.",
                       details={"status": attempt.status})
    question = session.scalar(select(AttemptQuestion).where(
        AttemptQuestion.attempt_id == attempt.id, AttemptQuestion.id == question_id))
    if question is None:
        raise NotFound(f"No question {question_id} in this attempt.")
    answers.check_shape(question.type, question.options, selected=data.selected,
                        text=data.text, value=data.value)
    question.selected = data.selected
    question.text = data.text
    question.value = data.value
    question.saved_at = now
    quiz = session.get(Quiz, attempt.quiz_id)
    if quiz is not None and quiz.feedback_timing == FeedbackTiming.IMMEDIATE:
        if _grade_question(lms, question):
            events.job_after_commit(session, GRADE_CODE_JOB, attempt_id=attempt.id,
                                    question_id=question.id)
    session.commit()
    return question


def _grade_question(lms: Platform, question: AttemptQuestion, *,
                    in_background: bool = False) -> bool:
    """Grade one answer; True when its grader runs code and the answer is left for the
    background job (``GRADE_CODE_JOB``) instead, its score unset until then."""
    answered = question.saved_at is not None
    question.grading_details = None
    if not answered:
        question.score, question.feedback = 0.0, "Not answered."
        question.needs_manual_review = False
        return False
    grader = lms.grader_for(question.type, question.grader)
    if grader.background and not in_background:
        question.score, question.feedback, question.needs_manual_review = (
            None, GRADING_FEEDBACK, False)
        return True
    item = GradableItem(id=f"attempt-question-{question.id}", type=question.type,
                        prompt=question.prompt, options=question.options,
                        answer_key=question.answer)
    try:
        result = grader.grade(item, Answer(selected=tuple(question.selected or ()),
                                           text=question.text, value=question.value))
    except ValueError as exc:
        question.score, question.feedback, question.needs_manual_review = 0.0, str(exc), False
        return False
    fraction = result.score / result.max_score if result.max_score else 0.0
    question.score = round(fraction * question.points, 4)
    question.feedback = result.feedback
    question.grading_details = result.details or None
    question.needs_manual_review = result.needs_manual_review
    return False


def _total(attempt: QuizAttempt, pass_mark: float) -> None:
    attempt.max_score = round(sum(q.points for q in attempt.questions), 4)
    attempt.pending_review = any(q.needs_manual_review for q in attempt.questions)
    if any(q.score is None for q in attempt.questions):
        # Code still being tested (GRADE_CODE_JOB totals it): no score or verdict to give yet.
        attempt.score = attempt.percent = attempt.passed = None
        return
    attempt.score = round(sum(q.score for q in attempt.questions), 4)
    attempt.percent = round(100 * attempt.score / attempt.max_score, 2) if attempt.max_score else 0
    attempt.passed = attempt.percent >= pass_mark


def _finish(lms: Platform, session: Session, attempt: QuizAttempt, status: AttemptStatus,
            now: datetime) -> None:
    # Concurrent finishes of one attempt (a retried submit, the auto-close job): the row
    # lock makes the later ones wait, then see it finished and change nothing.
    session.refresh(attempt, with_for_update=True)
    if attempt.status != AttemptStatus.IN_PROGRESS:
        session.rollback()
        return
    quiz = session.get(Quiz, attempt.quiz_id)
    waiting = [_grade_question(lms, question) for question in attempt.questions]
    _total(attempt, quiz.pass_mark if quiz else 50.0)
    attempt.status = status.value
    attempt.finished_at = now
    session.flush()
    if any(waiting):  # the job grades the code answers, then announces the final result
        events.job_after_commit(session, GRADE_CODE_JOB, attempt_id=attempt.id)
    else:
        _emit_submitted(session, attempt)
    session.commit()


def _emit_submitted(session: Session, attempt: QuizAttempt) -> None:
    events.emit(session, QuizSubmitted(
        attempt_id=attempt.id, quiz_id=attempt.quiz_id, user_id=attempt.user_id,
        score=attempt.score or 0.0, max_score=attempt.max_score or 0.0,
        passed=bool(attempt.passed),
    ))


#: What grading writes on an answer.
_GRADING = ("score", "feedback", "grading_details", "needs_manual_review")


def _attempt_with_questions(session: Session, attempt_id: int, *,
                            lock: bool = False) -> QuizAttempt | None:
    query = (select(QuizAttempt).where(QuizAttempt.id == attempt_id)
             .options(selectinload(QuizAttempt.questions)))
    return session.scalar(query.with_for_update() if lock else query)


def grade_code_answers(lms: Platform, attempt_id: int, question_id: int | None = None) -> int:
    """Job: grade the answers left for the background (code run in a sandbox) of a finished
    attempt, or one answer of an attempt in progress (immediate feedback). The code runs
    outside any database transaction; the grades are then written under the attempt's row
    lock, each only to an answer still waiting for it: a newer save of that answer, or
    another run grading it (the learner submitted meanwhile), may have come first. Whoever
    writes the last waiting answer of a finished attempt totals it and emits
    ``quiz_submitted``, so the result is announced once. Returns how many grades were
    written."""
    session = lms.db.session
    attempt = _attempt_with_questions(session, attempt_id)
    if attempt is None:
        return 0
    if question_id is not None and attempt.status in FINISHED:
        return 0  # the attempt's own job grades its final answers
    waiting = [q for q in attempt.questions
               if (question_id is None or q.id == question_id)
               and q.saved_at is not None and q.score is None]
    session.commit()  # no transaction (and, on SQLite, no write lock) while code runs
    grades = {}
    for question in waiting:
        answered_at = question.saved_at
        try:
            _grade_question(lms, question, in_background=True)
        except SandboxError as exc:
            log.error("attempt %s question %s: sandbox failed: %s", attempt.id, question.id, exc)
            question.score, question.needs_manual_review = 0.0, True
            question.feedback = ("Automatic testing is not available right now; a trainer "
                                 "will grade this answer.")
        grades[question.id] = (answered_at, {name: getattr(question, name) for name in _GRADING})
    session.rollback()  # what the code run changed in memory; written below, under the lock
    if not grades:
        return 0
    attempt = _attempt_with_questions(session, attempt_id, lock=True)
    written = 0
    for question in attempt.questions:
        answered_at, grade = grades.get(question.id, (None, None))
        if grade is not None and question.score is None and question.saved_at == answered_at:
            for name, value in grade.items():
                setattr(question, name, value)
            written += 1
    if written and attempt.status in FINISHED \
            and all(q.score is not None for q in attempt.questions):
        quiz = session.get(Quiz, attempt.quiz_id)
        _total(attempt, quiz.pass_mark if quiz else 50.0)
        _emit_submitted(session, attempt)
    session.commit()
    return written


def submit(lms: Platform, session: Session, user: User, attempt_id: int,
           now: datetime) -> QuizAttempt:
    attempt = get_attempt(lms, session, user, attempt_id, now)
    if attempt.user_id != user.id:
        raise PermissionDenied("Only the learner submits an attempt.")
    if attempt.status == AttemptStatus.IN_PROGRESS:
        _finish(lms, session, attempt, AttemptStatus.SUBMITTED, now)
    return attempt  # submitting twice returns the same result


def close_expired_attempts(lms: Platform) -> int:
    """Job: auto-close every attempt whose deadline and grace have passed."""
    session = lms.db.session
    now = utcnow()
    cutoff = now - timedelta(seconds=lms.settings.quizzes.grace_s)
    ids = session.scalars(select(QuizAttempt.id).where(
        QuizAttempt.status == AttemptStatus.IN_PROGRESS.value, QuizAttempt.deadline_at < cutoff
    ).limit(1000)).all()
    for attempt_id in ids:
        attempt = session.get(QuizAttempt, attempt_id)
        if attempt is not None:
            close_if_expired(lms, session, attempt, now)
    return len(ids)


def grade_manually(lms: Platform, session: Session, reviewer: User, attempt_id: int,
                   question_id: int, score: float, feedback: str) -> QuizAttempt:
    """A trainer scores a free-text answer (0 to the question's points). Commits."""
    require(reviewer, Action.REVIEW_SUBMISSIONS)
    attempt = get_attempt(lms, session, reviewer, attempt_id, utcnow())
    question = next((q for q in attempt.questions if q.id == question_id), None)
    if question is None:
        raise NotFound(f"No question {question_id} in this attempt.")
    if attempt.status not in FINISHED:
        raise Conflict("Grade an attempt after it is submitted.")
    if not 0 <= score <= question.points:
        raise _invalid("score", f"A score is between 0 and {question.points:g}.")
    question.score, question.feedback, question.needs_manual_review = score, feedback, False
    quiz = session.get(Quiz, attempt.quiz_id)
    _total(attempt, quiz.pass_mark if quiz else 50.0)
    session.commit()
    return attempt


def attempts_query(user: User, quiz_id: int | None):
    query = select(QuizAttempt).order_by(QuizAttempt.id.desc())
    if quiz_id is not None:
        query = query.where(QuizAttempt.quiz_id == quiz_id)
    if not learning.is_staff(user):
        query = query.where(QuizAttempt.user_id == user.id)
    return query


def reveal(attempt: QuizAttempt, quiz: Quiz | None, viewer: User) -> bool:
    """Whether correctness and answers may be shown: after the attempt ends, or per question
    at once when the quiz gives immediate feedback, and always to staff."""
    return (attempt.status in FINISHED or learning.is_staff(viewer)
            or (quiz is not None and quiz.feedback_timing == FeedbackTiming.IMMEDIATE))


# -- statistics --------------------------------------------------------------------------------


def statistics(session: Session, actor: User, quiz: Quiz) -> dict[str, Any]:
    """Attempts, mean score, pass rate, and per question facility (mean fraction of points)
    and discrimination (facility in the top 27 % of attempts minus the bottom 27 %)."""
    require(actor, Action.CREATE_QUIZ)
    attempts = list(session.scalars(
        select(QuizAttempt).where(QuizAttempt.quiz_id == quiz.id,
                                  QuizAttempt.status.in_(FINISHED))
        # Attempts share their questions' rows: each is loaded once, not once per answer.
        .options(selectinload(QuizAttempt.questions).selectinload(AttemptQuestion.question))
        .order_by(QuizAttempt.percent)
    ))
    out: dict[str, Any] = {"quiz_id": quiz.id, "attempts": len(attempts), "mean_percent": None,
                           "pass_rate": None, "questions": []}
    if not attempts:
        return out
    out["mean_percent"] = round(sum(a.percent or 0 for a in attempts) / len(attempts), 2)
    out["pass_rate"] = round(sum(1 for a in attempts if a.passed) / len(attempts), 4)
    group = max(1, round(len(attempts) * 0.27))
    low, high = attempts[:group], attempts[-group:]

    def fractions(rows: list[QuizAttempt]) -> dict[Any, list[float]]:
        by_question: dict[Any, list[float]] = defaultdict(list)
        for attempt in rows:
            for q in attempt.questions:
                key = _statistics_key(q)
                by_question[key].append((q.score or 0) / q.points if q.points else 0)
        return by_question

    everyone, lows, highs = fractions(attempts), fractions(low), fractions(high)
    prompts = {_statistics_key(q): q.prompt for a in attempts for q in a.questions}

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    for key, values in everyone.items():
        upper, lower = mean(highs.get(key, [])), mean(lows.get(key, []))
        out["questions"].append({
            "question": key, "prompt": prompts[key], "answers": len(values),
            "facility": mean(values),
            "discrimination": round(upper - lower, 4) if upper is not None and lower is not None
            else None,
        })
    return out


def _statistics_key(question: AttemptQuestion) -> int | str:
    """A drawn question counts per bank item (across its snapshots), the others per row."""
    return f"item-{question.item_id}" if question.drawn else question.quiz_question_id


def pending_grading_query(reviewer: User):
    """Finished attempts whose free-text answers wait for a trainer, in the same order as the
    submission queue: the reviewer's assigned learners first, then oldest first."""
    require(reviewer, Action.REVIEW_SUBMISSIONS)
    mine = case((User.trainer_id == reviewer.id, 0), else_=1)
    return (
        select(QuizAttempt)
        .join(User, User.id == QuizAttempt.user_id)
        .where(QuizAttempt.pending_review.is_(True), QuizAttempt.status.in_(FINISHED))
        .order_by(mine, QuizAttempt.finished_at, QuizAttempt.id)
    )
