"""Quizzes (authoring, generation, publishing) and attempts (start, autosave, submit)."""

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from .... import current_platform
from ....db import utcnow
from ....models import Quiz, Track
from ....services import learning, quiz_views, quizzes
from ...auth import auth_required, current_user
from ...pagination import PageArgs, page_of, paginate
from .schemas import (
    AnswerSaveSchema,
    AttemptDetailSchema,
    AttemptListArgs,
    AttemptSchema,
    GenerateSchema,
    ManualGradeSchema,
    QuizCreateSchema,
    QuizDetailSchema,
    QuizListArgs,
    QuizSchema,
    QuizUpdateSchema,
    SavedAnswerSchema,
)

blp = Blueprint("quizzes", __name__, url_prefix="/api/v1", description="Quizzes and attempts")


def _present_quiz(quiz: Quiz, *, with_questions: bool) -> dict:
    """Staff see answers; learners get the quiz without its questions (they see them in an
    attempt, where answers stay hidden until results may be revealed)."""
    session = current_platform().db.session
    data = {column: getattr(quiz, column) for column in QuizSchema().fields
            if hasattr(quiz, column)}
    data["track_code"] = session.scalar(select(Track.code).where(Track.id == quiz.track_id))
    data["question_count"] = quiz_views.question_count(quiz)
    staff = learning.is_staff(current_user())
    data["questions"] = quiz.questions if with_questions and staff else []
    return data


def _present_attempt(attempt) -> dict:
    data = {key: getattr(attempt, key) for key in AttemptSchema().fields}
    data["questions"] = quiz_views.attempt_questions(attempt, attempt.quiz, current_user())
    return data


@blp.route("/quizzes")
class QuizCollection(MethodView):
    decorators = [auth_required]

    @blp.arguments(QuizListArgs, location="query")
    @blp.arguments(PageArgs, location="query", as_kwargs=True)
    @blp.response(200, page_of(QuizSchema))
    def get(self, filters, page, page_size):
        session = current_platform().db.session
        result = paginate(session, quizzes.quizzes_query(session, current_user(), **filters),
                          page, page_size)
        result["items"] = [_present_quiz(q, with_questions=False) for q in result["items"]]
        return result

    @blp.arguments(QuizCreateSchema)
    @blp.response(201, QuizDetailSchema)
    def post(self, data):
        session = current_platform().db.session
        questions = [quizzes.QuestionInput(**q) for q in data.pop("questions", [])]
        quiz = quizzes.create_quiz(session, current_user(), data, questions,
                                   data.pop("item_ids", []))
        return _present_quiz(quiz, with_questions=True)


@blp.post("/quizzes/generate")
@blp.arguments(GenerateSchema)
@blp.response(202, QuizSchema)
@auth_required
def generate(data):
    lms = current_platform()
    quiz = quizzes.request_generation(lms, lms.db.session, current_user(), **data)
    return _present_quiz(quiz, with_questions=False)


@blp.route("/quizzes/<int:quiz_id>")
class QuizItem(MethodView):
    decorators = [auth_required]

    @blp.response(200, QuizDetailSchema)
    def get(self, quiz_id):
        quiz = quizzes.get_quiz(current_platform().db.session, current_user(), quiz_id)
        return _present_quiz(quiz, with_questions=True)

    @blp.arguments(QuizUpdateSchema)
    @blp.response(200, QuizDetailSchema)
    def patch(self, data, quiz_id):
        session = current_platform().db.session
        quiz = quizzes.get_quiz(session, current_user(), quiz_id)
        questions = data.pop("questions", None)
        quiz = quizzes.update_quiz(
            session, current_user(), quiz, data,
            [quizzes.QuestionInput(**q) for q in questions] if questions is not None else None,
            data.pop("item_ids", None),
        )
        return _present_quiz(quiz, with_questions=True)

    @blp.response(204)
    def delete(self, quiz_id):
        session = current_platform().db.session
        quizzes.delete_quiz(session, current_user(),
                            quizzes.get_quiz(session, current_user(), quiz_id))


@blp.post("/quizzes/<int:quiz_id>/publish")
@blp.response(200, QuizDetailSchema)
@auth_required
def publish(quiz_id):
    session = current_platform().db.session
    quiz = quizzes.publish(session, current_user(),
                           quizzes.get_quiz(session, current_user(), quiz_id))
    return _present_quiz(quiz, with_questions=True)


@blp.get("/quizzes/<int:quiz_id>/statistics")
@blp.response(200)
@auth_required
def statistics(quiz_id):
    session = current_platform().db.session
    return quizzes.statistics(session, current_user(),
                              quizzes.get_quiz(session, current_user(), quiz_id))


@blp.post("/quizzes/<int:quiz_id>/attempts")
@blp.response(201, AttemptDetailSchema)
@blp.alt_response(200, schema=AttemptDetailSchema, description="The attempt already running")
@auth_required
def start_attempt(quiz_id):
    lms = current_platform()
    attempt, created = quizzes.start_attempt(lms, lms.db.session, current_user(), quiz_id, utcnow())
    return _present_attempt(attempt), 201 if created else 200


@blp.get("/attempts")
@blp.arguments(AttemptListArgs, location="query")
@blp.arguments(PageArgs, location="query", as_kwargs=True)
@blp.response(200, page_of(AttemptSchema))
@auth_required
def list_attempts(filters, page, page_size):
    query = quizzes.attempts_query(current_user(), filters.get("quiz_id"))
    return paginate(current_platform().db.session, query, page, page_size)


@blp.get("/attempts/<int:attempt_id>")
@blp.response(200, AttemptDetailSchema)
@auth_required
def get_attempt(attempt_id):
    lms = current_platform()
    return _present_attempt(
        quizzes.get_attempt(lms, lms.db.session, current_user(), attempt_id, utcnow()))


@blp.put("/attempts/<int:attempt_id>/answers/<int:question_id>")
@blp.arguments(AnswerSaveSchema)
@blp.response(200, SavedAnswerSchema)
@auth_required
def save_answer(data, attempt_id, question_id):
    lms = current_platform()
    now = utcnow()  # stamped when the request arrived, before any waiting
    question = quizzes.save_answer(lms, lms.db.session, current_user(), attempt_id, question_id,
                                   quizzes.AnswerInput(**data), now)
    return quiz_views.saved_answer(question)


@blp.post("/attempts/<int:attempt_id>/submit")
@blp.response(200, AttemptDetailSchema)
@auth_required
def submit(attempt_id):
    lms = current_platform()
    return _present_attempt(
        quizzes.submit(lms, lms.db.session, current_user(), attempt_id, utcnow()))


@blp.post("/attempts/<int:attempt_id>/questions/<int:question_id>/grade")
@blp.arguments(ManualGradeSchema)
@blp.response(200, AttemptDetailSchema)
@auth_required
def grade(data, attempt_id, question_id):
    lms = current_platform()
    return _present_attempt(quizzes.grade_manually(
        lms, lms.db.session, current_user(), attempt_id, question_id, data["score"],
        data["feedback"]))
