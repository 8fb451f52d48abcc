"""Quiz pages. Learners list quizzes, take an attempt (one question per page or all on one,
with a timer and autosave) and read their results; trainers build, generate, publish and
delete quizzes, read their statistics and grade free-text answers.

Every page works as plain HTML forms; static/quiz.js adds saving each change as it happens
(through ``autosave`` below, a JSON endpoint guarded by the session's CSRF token) and a
ticking timer.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from marshmallow import ValidationError

from .. import current_platform
from ..api.resources.quizzes.schemas import (
    MAX_QUESTIONS,
    AnswerSaveSchema,
    GenerateSchema,
    QuizCreateSchema,
)
from ..db import known_id, utcnow
from ..errors import Conflict, LmsError, NotFound, ValidationFailed
from ..models import AttemptStatus, FeedbackTiming, GenerationStatus, Quiz, QuizStatus, Track
from ..models.banks import ITEM_TYPES
from ..services import learning, quiz_views, quizzes
from ..services.answers import CHOICE_TYPES
from ..services.permissions import Action, can_delete_quiz
from .accounts import _form_errors, _page
from .learner import answer_text, names_of
from .session_auth import login_required, web_user
from .trainer import requires

bp = Blueprint("quiz_pages", __name__)

LIST_LIMIT = 200
OPTION_KEYS = "ABCDEF"
#: Question types a trainer writes in the builder (code questions need tests: import them).
BUILDER_TYPES = tuple(t for t in ITEM_TYPES if t != "code")
#: Empty question rows under the filled ones; "Add rows" adds this many more.
EXTRA_ROWS = 3
GENERATING = (GenerationStatus.QUEUED.value, GenerationStatus.GENERATING.value)


def _lms_session():
    lms = current_platform()
    return lms, lms.db.session


def _zone() -> ZoneInfo:
    user = web_user()
    return ZoneInfo(user.timezone if user and user.timezone else "UTC")


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC time in the signed-in user's time zone."""
    return value.astimezone(_zone()).strftime(fmt) if value else ""


bp.add_app_template_filter(localtime, "localtime")


# -- learner: list, quiz page, start --------------------------------------------------------


@bp.get("/quizzes")
@login_required
def index():
    _lms, session = _lms_session()
    user = web_user()
    rows = list(session.scalars(quizzes.quizzes_query(
        session, user, status=QuizStatus.PUBLISHED.value).limit(LIST_LIMIT)))
    return render_template(
        "quizzes/index.html", quizzes=rows,
        summaries=quiz_views.attempt_summaries(session, user, [q.id for q in rows]),
        counts={q.id: quiz_views.question_count(q) for q in rows})


@bp.get("/quizzes/<int:quiz_id>")
@login_required
def quiz_page(quiz_id: int):
    _lms, session = _lms_session()
    user = web_user()
    quiz = quizzes.get_quiz(session, user, quiz_id)
    attempts = quiz_views.own_attempts(session, user, quiz.id)
    running = next((a for a in attempts if a.status == AttemptStatus.IN_PROGRESS), None)
    used_up = quiz.attempts_allowed is not None and len(attempts) >= quiz.attempts_allowed
    return render_template(
        "quizzes/quiz.html", quiz=quiz, attempts=attempts, running=running,
        can_start=quiz.status == QuizStatus.PUBLISHED and (running is not None or not used_up),
        question_count=quiz_views.question_count(quiz), track_code=_track_code(quiz.track_id))


@bp.post("/quizzes/<int:quiz_id>/start")
@login_required
def start(quiz_id: int):
    lms, session = _lms_session()
    try:
        attempt, _created = quizzes.start_attempt(lms, session, web_user(), quiz_id, utcnow())
    except Conflict as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".quiz_page", quiz_id=quiz_id))
    return redirect(url_for(".take", attempt_id=attempt.id))


# -- learner: taking an attempt --------------------------------------------------------------


def _own_attempt(attempt_id: int):
    """The signed-in learner's attempt (closed first if its time ran out) and its quiz."""
    lms, session = _lms_session()
    user = web_user()
    attempt = quizzes.get_attempt(lms, session, user, attempt_id, utcnow())
    if attempt.user_id != user.id:  # staff may read others' results, never answer for them
        raise NotFound(f"No attempt with id {attempt_id}.")
    return attempt, session.get(Quiz, attempt.quiz_id)


def _take_page(attempt, quiz, *, errors: dict[int, str] | None = None, status: int = 200):
    questions = quiz_views.attempt_questions(attempt, quiz, web_user())
    view_all = request.values.get("view") == "all"
    position = min(max(request.values.get("q", 1, type=int) or 1, 1), len(questions))
    now = utcnow()
    remaining = (max(0, int((attempt.deadline_at - now).total_seconds()))
                 if attempt.deadline_at else None)
    saved = [q["saved_at"] for q in questions if q["saved_at"] is not None]
    html = render_template(
        "quizzes/take.html", attempt=attempt, quiz=quiz, questions=questions,
        shown=questions if view_all else [questions[position - 1]], view_all=view_all,
        position=position, remaining=remaining, errors=errors or {},
        last_saved=max(saved) if saved else None,
        answered=len(saved), grace_s=current_platform().settings.quizzes.grace_s,
        immediate=quiz is not None and quiz.feedback_timing == FeedbackTiming.IMMEDIATE)
    return html, status


@bp.get("/attempts/<int:attempt_id>")
@login_required
def take(attempt_id: int):
    attempt, quiz = _own_attempt(attempt_id)
    if attempt.status != AttemptStatus.IN_PROGRESS:
        return redirect(url_for(".result", attempt_id=attempt.id))
    return _take_page(attempt, quiz)


def _form_answer(question, form) -> dict[str, Any] | None:
    """The answer a page's form gives one question, or None when it gives nothing new (so an
    untouched question stays unanswered)."""
    name = f"q{question.id}"
    if question.type in CHOICE_TYPES:
        selected = form.getlist(name)
        if sorted(selected) == sorted(question.selected or []):
            return None
        return {"selected": selected}
    raw = form.get(name, "")
    if question.type == "numeric":
        if not raw.strip() or (question.value is not None and raw.strip() == f"{question.value:g}"):
            return None
        return {"value": raw.strip()}
    if raw == (question.text or ""):
        return None
    return {"text": raw}


def _save(attempt_id: int, question_id: int, payload: Any, now: datetime):
    """Validate one answer as the API does, then save it through the quiz service."""
    lms, session = _lms_session()
    try:
        data = AnswerSaveSchema().load(payload if isinstance(payload, dict) else {})
    except ValidationError as exc:
        messages = [m for field in exc.messages.values()
                    for m in (field if isinstance(field, list) else [field])]
        raise ValidationFailed(str(messages[0]) if messages else "Send an answer.",
                               details={"fields": exc.messages}) from None
    return quizzes.save_answer(lms, session, web_user(), attempt_id, question_id,
                               quizzes.AnswerInput(**data), now)


def _target(attempt_id: int) -> str:
    """Where a page's navigation button leads once its answers are saved."""
    go = request.form.get("go", "")
    if go == "finish":
        return url_for(".confirm", attempt_id=attempt_id)
    if go == "all":
        return url_for(".take", attempt_id=attempt_id, view="all")
    if go.startswith("q:") and go[2:].isdigit():
        return url_for(".take", attempt_id=attempt_id, q=int(go[2:]))
    if request.form.get("view") == "all":
        return url_for(".take", attempt_id=attempt_id, view="all")
    return url_for(".take", attempt_id=attempt_id, q=request.form.get("q", 1, type=int))


@bp.post("/attempts/<int:attempt_id>")
@login_required
def save_page(attempt_id: int):
    """Without JavaScript: save the page's answers, then go where the pressed button says."""
    now = utcnow()  # stamped when the request arrived
    _lms, session = _lms_session()
    attempt, _quiz = _own_attempt(attempt_id)
    if attempt.status != AttemptStatus.IN_PROGRESS:
        flash("Time is up: this attempt was closed with the answers saved before.", "error")
        return redirect(url_for(".result", attempt_id=attempt.id))
    on_page = set(request.form.getlist("question", type=int))
    errors: dict[int, str] = {}
    for question in [q for q in attempt.questions if q.id in on_page]:
        payload = _form_answer(question, request.form)
        if payload is None:
            continue
        try:
            _save(attempt.id, question.id, payload, now)
        except Conflict as exc:
            session.rollback()
            flash(exc.message, "error")
            return redirect(url_for(".result", attempt_id=attempt.id))
        except LmsError as exc:
            session.rollback()
            errors[question.id] = exc.message
    if errors:
        attempt, quiz = _own_attempt(attempt_id)
        return _take_page(attempt, quiz, errors=errors, status=422)
    return redirect(_target(attempt.id))


def _json_error(status: int, message: str):
    return jsonify({"error": {"status": status, "message": message}}), status


@bp.put("/attempts/<int:attempt_id>/answers/<int:question_id>")
def autosave(attempt_id: int, question_id: int):
    """quiz.js saves each change here: the API's body, the page's session and CSRF header
    (the session cookie is not an API token). Errors come back as JSON for the status line."""
    now = utcnow()
    if web_user() is None:
        return _json_error(401, "You are signed out. Sign in again in another tab.")
    try:
        question = _save(attempt_id, question_id, request.get_json(silent=True), now)
    except LmsError as exc:
        current_platform().db.session.rollback()
        return _json_error(exc.status, exc.message)
    saved = quiz_views.saved_answer(question)
    # The status line shows the time as the page does: in the learner's time zone, not the
    # browser's.
    saved["saved_at_local"] = localtime(saved["saved_at"], "%H:%M:%S")
    saved["saved_at"] = saved["saved_at"].isoformat()
    return jsonify(saved)


@bp.get("/attempts/<int:attempt_id>/submit")
@login_required
def confirm(attempt_id: int):
    attempt, quiz = _own_attempt(attempt_id)
    if attempt.status != AttemptStatus.IN_PROGRESS:
        return redirect(url_for(".result", attempt_id=attempt.id))
    return render_template("quizzes/confirm.html", attempt=attempt, quiz=quiz,
                           unanswered=[q for q in attempt.questions if q.saved_at is None])


@bp.post("/attempts/<int:attempt_id>/submit")
@login_required
def submit(attempt_id: int):
    lms, session = _lms_session()
    quizzes.submit(lms, session, web_user(), attempt_id, utcnow())
    return redirect(url_for(".result", attempt_id=attempt_id))


@bp.get("/attempts/<int:attempt_id>/result")
@login_required
def result(attempt_id: int):
    lms, session = _lms_session()
    user = web_user()
    attempt = quizzes.get_attempt(lms, session, user, attempt_id, utcnow())
    if attempt.status == AttemptStatus.IN_PROGRESS and attempt.user_id == user.id:
        return redirect(url_for(".take", attempt_id=attempt.id))
    quiz = session.get(Quiz, attempt.quiz_id)
    questions = quiz_views.attempt_questions(attempt, quiz, user)
    return render_template(
        "quizzes/result.html", attempt=attempt, quiz=quiz, questions=questions,
        # No verdict yet on a finished attempt: its code is being tested (the page refreshes).
        testing=attempt.status in quizzes.FINISHED and attempt.passed is None,
        # answer_text reads only ``options``, which a presented question has too.
        answers={q["id"]: answer_text(SimpleNamespace(options=q["options"]), q["answer"])
                 # A code question's "answer" is its instructor tests: never shown as text.
                 for q in questions if q["answer"] is not None and q["type"] != "code"},
        learner=names_of(session, [attempt.user_id]).get(attempt.user_id, ""))


# -- trainer: quiz list, builder, publish, delete -------------------------------------------


@bp.get("/trainer/quizzes")
@requires(Action.CREATE_QUIZ)
def builder():
    _lms, session = _lms_session()
    user = web_user()
    everyone = request.args.get("owner") == "all"
    query = quizzes.quizzes_query(session, user)
    if not everyone:
        query = query.where(Quiz.owner_id == user.id)
    rows = list(session.scalars(query.limit(LIST_LIMIT)))
    return render_template(
        "quizzes/builder_list.html", quizzes=rows, everyone=everyone,
        owners=names_of(session, [q.owner_id for q in rows]),
        counts={q.id: quiz_views.question_count(q) for q in rows},
        deletable={q.id for q in rows if can_delete_quiz(user, q.owner_id)}, limit=LIST_LIMIT)


def _row(n: int, data: dict[str, Any] | None = None) -> dict[str, Any]:
    data = data or {}
    return {"n": n, "type": data.get("type", "mcq_single"), "prompt": data.get("prompt", ""),
            "options": {k: data.get("options", {}).get(k, "") for k in OPTION_KEYS},
            "correct": data.get("correct", []), "answer": data.get("answer", ""),
            "tolerance": data.get("tolerance", ""), "explanation": data.get("explanation", ""),
            "points": data.get("points", "1")}


def _question_row(n: int, question) -> dict[str, Any]:
    """A stored question as builder form fields."""
    answer, correct, text, tolerance = question.answer, [], "", ""
    if question.type == "mcq_single":
        correct = [answer]
    elif question.type == "mcq_multi":
        correct = ([k for k, f in answer.items() if float(f) > 0] if isinstance(answer, dict)
                   else list(answer or []))
    elif question.type == "short_answer":
        text = "\n".join(answer or [])
    elif question.type == "numeric":
        text = f"{answer.get('value', '')}"
        tolerance = f"{answer.get('tolerance', '')}"
    else:
        text = answer if isinstance(answer, str) else ""
    return _row(n, {"type": question.type, "prompt": question.prompt,
                    "options": question.options or {}, "correct": correct, "answer": text,
                    "tolerance": tolerance, "explanation": question.explanation or "",
                    "points": f"{question.points:g}"})


def _local_input(value: datetime | None) -> str:
    return value.astimezone(_zone()).strftime("%Y-%m-%dT%H:%M") if value else ""


def _quiz_form(quiz: Quiz | None) -> dict[str, Any]:
    """The builder's fields: defaults for a new quiz, or the quiz's current settings."""
    if quiz is None:
        return {"title": "", "description": "", "track": "", "time_limit_min": "",
                "attempts_allowed": "", "shuffle_questions": False, "shuffle_options": False,
                "pass_mark": "50", "feedback_timing": FeedbackTiming.DEFERRED.value,
                "available_from": "", "available_until": "", "item_ids": "",
                "draw_banks": "", "draw_facets": "", "draw_count": "",
                "rows": [_row(n) for n in range(EXTRA_ROWS)]}
    written = [q for q in quiz.questions if q.item_id is None]
    draw = quiz.draw or {}
    return {
        "title": quiz.title, "description": quiz.description or "",
        "track": _track_code(quiz.track_id),
        "time_limit_min": f"{quiz.time_limit_s / 60:g}" if quiz.time_limit_s else "",
        "attempts_allowed": str(quiz.attempts_allowed or ""),
        "shuffle_questions": quiz.shuffle_questions, "shuffle_options": quiz.shuffle_options,
        "pass_mark": f"{quiz.pass_mark:g}", "feedback_timing": quiz.feedback_timing,
        "available_from": _local_input(quiz.available_from),
        "available_until": _local_input(quiz.available_until),
        "item_ids": ", ".join(str(q.item_id) for q in quiz.questions if q.item_id is not None),
        "draw_banks": ", ".join(draw.get("banks", [])),
        "draw_facets": ", ".join(draw.get("facets", [])),
        "draw_count": str(draw.get("count", "")),
        "rows": [_question_row(n, q) for n, q in enumerate(written)]
        + [_row(n) for n in range(len(written), len(written) + EXTRA_ROWS)],
    }


def _track_code(track_id: int | None) -> str:
    track = current_platform().db.session.get(Track, track_id) if track_id else None
    return track.code if track else ""


def _posted_form() -> dict[str, Any]:
    """The builder's fields as posted (kept as typed, to show again with errors)."""
    f = request.form
    form: dict[str, Any] = {key: f.get(key, "").strip() for key in (
        "title", "track", "time_limit_min", "attempts_allowed", "pass_mark", "feedback_timing",
        "available_from", "available_until", "item_ids", "draw_banks", "draw_facets",
        "draw_count")}
    form["description"] = f.get("description", "")
    form["shuffle_questions"] = "shuffle_questions" in f
    form["shuffle_options"] = "shuffle_options" in f
    rows = []
    for n in range(min(f.get("rows", 0, type=int) or 0, MAX_QUESTIONS + EXTRA_ROWS)):
        p = f"q{n}-"
        if f"{p}remove" in f:
            continue
        rows.append(_row(len(rows), {
            "type": f.get(f"{p}type", ""), "prompt": f.get(f"{p}prompt", ""),
            "options": {k: f.get(f"{p}opt-{k}", "").strip() for k in OPTION_KEYS},
            "correct": f.getlist(f"{p}correct"), "answer": f.get(f"{p}answer", ""),
            "tolerance": f.get(f"{p}tolerance", "").strip(),
            "explanation": f.get(f"{p}explanation", ""),
            "points": f.get(f"{p}points", "").strip() or "1"}))
    extra = EXTRA_ROWS if f.get("action") == "rows" else 0
    filled = [r for r in rows if r["prompt"].strip()]
    form["rows"] = filled + [_row(n) for n in range(len(filled),
                                                    len(filled) + max(extra, 1))]
    return form


def _number(raw: str, name: str, errors: dict[str, list[str]], *, integer: bool = False):
    if not raw:
        return None
    try:
        return int(raw) if integer else float(raw)
    except ValueError:
        errors[name] = ["Enter a whole number." if integer else "Enter a number."]
        return None


def _when(raw: str, name: str, errors: dict[str, list[str]]) -> str | None:
    """A datetime-local field (the user's zone) as an aware ISO time for the schema."""
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=_zone()).isoformat()
    except ValueError:
        errors[name] = ["Enter a date and time."]
        return None


def _row_answer(row: dict[str, Any], errors: dict[str, list[str]], name: str) -> Any:
    kind = row["type"]
    if kind == "mcq_single":
        return row["correct"][0] if len(row["correct"]) == 1 else ""
    if kind == "mcq_multi":
        return list(row["correct"])
    if kind == "short_answer":
        return [line.strip() for line in row["answer"].splitlines() if line.strip()]
    if kind == "numeric":
        value = _number(row["answer"].strip(), name, errors)
        tolerance = _number(row["tolerance"], name, errors)
        if value is None and name not in errors:
            errors[name] = ["Enter the right answer as a number."]
        return {"value": value, "tolerance": tolerance or 0}
    return row["answer"]


def _quiz_payload(form: dict[str, Any]) -> tuple[dict[str, Any], list[int], dict[str, list[str]]]:
    """Builder fields → (the API's create body, row number per question, field errors)."""
    errors: dict[str, list[str]] = {}
    minutes = _number(form["time_limit_min"], "time_limit_min", errors)
    payload: dict[str, Any] = {
        "title": form["title"], "description": form["description"],
        "track": form["track"] or None,
        "time_limit_s": round(minutes * 60) if minutes else None,
        "attempts_allowed": _number(form["attempts_allowed"], "attempts_allowed", errors,
                                    integer=True),
        "shuffle_questions": form["shuffle_questions"],
        "shuffle_options": form["shuffle_options"],
        "pass_mark": _number(form["pass_mark"], "pass_mark", errors) or 0,
        "feedback_timing": form["feedback_timing"],
        "available_from": _when(form["available_from"], "available_from", errors),
        "available_until": _when(form["available_until"], "available_until", errors),
        "draw": None, "questions": [], "item_ids": [],
    }
    ids = form["item_ids"].replace(",", " ").split()
    if all(i.isdigit() for i in ids):
        payload["item_ids"] = [int(i) for i in ids]
    else:
        errors["item_ids"] = ["List item ids as numbers, separated by commas."]
    if form["draw_banks"]:
        payload["draw"] = {
            "banks": [b.strip() for b in form["draw_banks"].split(",") if b.strip()],
            "facets": [x.strip() for x in form["draw_facets"].split(",") if x.strip()],
            "count": _number(form["draw_count"], "draw_count", errors, integer=True) or 0}
    rows_of: list[int] = []
    for row in form["rows"]:
        if not row["prompt"].strip():
            continue
        name = f"q{row['n']}"
        rows_of.append(row["n"])
        payload["questions"].append({
            "type": row["type"], "prompt": row["prompt"],
            "options": ({k: v for k, v in row["options"].items() if v}
                        if row["type"] in CHOICE_TYPES else {}),
            "answer": _row_answer(row, errors, name), "explanation": row["explanation"],
            "points": _number(row["points"], name, errors) or 1})
    return payload, rows_of, errors


FIELD_NAMES = {"time_limit_s": "time_limit_min", "draw": "draw_banks"}


def _schema_errors(messages: dict[str, Any], rows_of: list[int]) -> dict[str, list[str]]:
    """Marshmallow's or the service's field errors, keyed by the builder's field names."""
    errors: dict[str, list[str]] = {}
    for name, value in messages.items():
        if name == "questions" and isinstance(value, dict):
            for index, problems in value.items():
                row = rows_of[int(index)] if str(index).isdigit() and int(index) < len(
                    rows_of) else 0
                flat = (problems if isinstance(problems, list)
                        else [f"{k}: {' '.join(map(str, v))}" for k, v in problems.items()])
                errors[f"q{row}"] = [str(p) for p in flat]
        else:
            flat = value if isinstance(value, list) else [
                m for v in value.values() for m in (v if isinstance(v, list) else [v])]
            errors[FIELD_NAMES.get(name, name)] = [str(m) for m in flat]
    return errors


def _builder_page(quiz: Quiz | None, form: dict[str, Any], errors=None, status: int = 200):
    _lms, session = _lms_session()
    locked = quiz is not None and quiz.status != QuizStatus.DRAFT
    if locked:  # a disabled fieldset posts nothing: show the stored questions again
        stored = _quiz_form(quiz)
        form = {**form, "rows": stored["rows"], "item_ids": stored["item_ids"]}
    return _page("quizzes/builder_form.html", errors, status, quiz=quiz, form=form,
                 tracks=learning.catalogue(session), types=BUILDER_TYPES,
                 option_keys=OPTION_KEYS, timings=[t.value for t in FeedbackTiming],
                 questions_locked=locked)


def _save_quiz(quiz: Quiz | None):
    """Create or update from the posted builder form; the form again on errors."""
    _lms, session = _lms_session()
    form = _posted_form()
    if request.form.get("action") == "rows":
        return _builder_page(quiz, form)
    payload, rows_of, errors = _quiz_payload(form)
    if not errors:
        try:
            data = QuizCreateSchema().load(payload)
        except ValidationError as exc:
            errors = _schema_errors(exc.messages, rows_of)
    if errors:
        return _builder_page(quiz, form, errors)
    questions = [quizzes.QuestionInput(**q) for q in data.pop("questions")]
    item_ids = data.pop("item_ids")
    try:
        if quiz is None:
            quiz = quizzes.create_quiz(session, web_user(), data, questions, item_ids)
        else:
            locked = quiz.status != QuizStatus.DRAFT
            quiz = quizzes.update_quiz(session, web_user(), quiz, data,
                                       None if locked else questions, None if locked else item_ids)
    except LmsError as exc:
        session.rollback()
        fields = exc.details.get("fields") if isinstance(exc, ValidationFailed) else None
        return _builder_page(quiz, form, _schema_errors(fields, rows_of) if fields
                             else _form_errors(exc), exc.status)
    flash(f"“{quiz.title}” saved.", "success")
    return redirect(url_for(".edit", quiz_id=quiz.id))


@bp.route("/trainer/quizzes/new", methods=["GET", "POST"])
@requires(Action.CREATE_QUIZ)
def new():
    if request.method == "POST":
        return _save_quiz(None)
    return _builder_page(None, _quiz_form(None))


@bp.route("/trainer/quizzes/<int:quiz_id>/edit", methods=["GET", "POST"])
@requires(Action.CREATE_QUIZ)
def edit(quiz_id: int):
    _lms, session = _lms_session()
    quiz = quizzes.get_quiz(session, web_user(), quiz_id)
    if request.method == "POST":
        return _save_quiz(quiz)
    return _builder_page(quiz, _quiz_form(quiz))


@bp.post("/trainer/quizzes/<int:quiz_id>/publish")
@requires(Action.CREATE_QUIZ)
def publish(quiz_id: int):
    _lms, session = _lms_session()
    try:
        quiz = quizzes.publish(session, web_user(), quizzes.get_quiz(session, web_user(), quiz_id))
    except Conflict as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".edit", quiz_id=quiz_id))
    flash(f"“{quiz.title}” is published.", "success")
    return redirect(url_for(".builder"))


@bp.post("/trainer/quizzes/<int:quiz_id>/delete")
@requires(Action.CREATE_QUIZ)
def delete(quiz_id: int):
    _lms, session = _lms_session()
    quiz = quizzes.get_quiz(session, web_user(), quiz_id)
    title = quiz.title
    quizzes.delete_quiz(session, web_user(), quiz)
    flash(f"“{title}” deleted.", "success")
    return redirect(url_for(".builder"))


# -- trainer: AI generation ------------------------------------------------------------------


def _generate_page(form: dict[str, Any], errors=None, status: int = 200):
    lms, session = _lms_session()
    return _page("quizzes/generate.html", errors, status, form=form,
                 generators=lms.quiz_generators.names(),
                 default_generator=lms.settings.quizzes.default_generator,
                 tracks=learning.catalogue(session),
                 max_questions=lms.settings.quizzes.max_questions)


@bp.route("/trainer/quizzes/generate", methods=["GET", "POST"])
@requires(Action.CREATE_QUIZ)
def generate():
    if request.method == "GET":
        return _generate_page({"title": "", "prompt": "", "num_questions": "5",
                               "types": ["mcq_single"], "difficulty": "3", "track": "",
                               "generator": ""})
    lms, session = _lms_session()
    f = request.form
    form = {key: f.get(key, "").strip() for key in (
        "title", "prompt", "num_questions", "difficulty", "track", "generator")}
    form["types"] = f.getlist("types")
    # Empty fields take the schema's defaults (single choice, difficulty 3, no track...).
    body = {key: value for key, value in form.items() if value or key == "title"}
    try:
        data = GenerateSchema().load(body)
        quiz = quizzes.request_generation(lms, session, web_user(), **data)
    except ValidationError as exc:
        return _generate_page(form, _schema_errors(exc.messages, []))
    except LmsError as exc:
        session.rollback()
        return _generate_page(form, _form_errors(exc), exc.status)
    return redirect(url_for(".generation", quiz_id=quiz.id))


@bp.get("/trainer/quizzes/<int:quiz_id>/status")
@requires(Action.CREATE_QUIZ)
def generation(quiz_id: int):
    _lms, session = _lms_session()
    quiz = quizzes.get_quiz(session, web_user(), quiz_id)
    return render_template("quizzes/generation.html", quiz=quiz,
                           working=quiz.generation_status in GENERATING,
                           count=quiz_views.question_count(quiz))


# -- trainer: statistics and manual grading --------------------------------------------------


@bp.get("/trainer/quizzes/<int:quiz_id>/statistics")
@requires(Action.CREATE_QUIZ)
def statistics(quiz_id: int):
    _lms, session = _lms_session()
    quiz = quizzes.get_quiz(session, web_user(), quiz_id)
    return render_template("quizzes/statistics.html", quiz=quiz,
                           stats=quizzes.statistics(session, web_user(), quiz),
                           pending=len(quiz_views.pending_manual(session, quiz.id)))


def _grading_page(quiz_id: int, errors=None, status: int = 200):
    _lms, session = _lms_session()
    quiz = quizzes.get_quiz(session, web_user(), quiz_id)
    pending = quiz_views.pending_manual(session, quiz.id)
    return _page("quizzes/grading.html", errors, status, quiz=quiz, pending=pending,
                 learners=names_of(session, [a.user_id for a, _q in pending]))


@bp.get("/trainer/quizzes/<int:quiz_id>/grading")
@requires(Action.REVIEW_SUBMISSIONS)
def grading(quiz_id: int):
    return _grading_page(quiz_id)


@bp.post("/trainer/attempts/<int:attempt_id>/questions/<int:question_id>/grade")
@requires(Action.REVIEW_SUBMISSIONS)
def grade(attempt_id: int, question_id: int):
    lms, session = _lms_session()
    quiz_id = known_id(request.form.get("quiz_id", type=int))
    field = f"score-{question_id}"
    try:
        score = float(request.form.get("score", ""))
    except ValueError:
        return _grading_page(quiz_id, {field: ["Enter a score as a number."]})
    try:
        quizzes.grade_manually(lms, session, web_user(), attempt_id, question_id, score,
                               request.form.get("feedback", ""))
    except LmsError as exc:
        session.rollback()
        return _grading_page(quiz_id, {field: [exc.message]}, exc.status)
    flash("Score saved.", "success")
    return redirect(url_for(".grading", quiz_id=quiz_id))
