"""The quiz engine end to end through the API."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from tracks_fixture import write_bank, write_track

from lmscore import hookimpl
from lmscore.capabilities import GeneratedQuestion, GenerationError, QuizGenerator
from lmscore.db import utcnow
from lmscore.models import Item, QuizAttempt, QuizQuestion
from lmscore.services import content, quizzes
from lmscore.testing.statements import recording_statements

QUESTIONS = [
    {"type": "mcq_single", "prompt": "2 + 2?", "options": {"A": "3", "B": "4"}, "answer": "B"},
    {
        "type": "mcq_multi",
        "prompt": "Even numbers?",
        "options": {"A": "2", "B": "3", "C": "4"},
        "answer": ["A", "C"],
    },
    {"type": "numeric", "prompt": "Pi?", "answer": {"value": 3.14, "tolerance": 0.01}, "points": 2},
    {"type": "short_answer", "prompt": "Capital of France?", "answer": ["Paris"]},
]


@pytest.fixture
def staff(api_as):
    return api_as("trainer")


@pytest.fixture
def learner(api_as):
    return api_as("student")


def make_quiz(client, **settings):
    r = client.post(
        "/api/v1/quizzes", json={"title": "Arithmetic", "questions": QUESTIONS, **settings}
    )
    assert r.status_code == 201, r.json
    quiz = r.json
    assert client.post(f"/api/v1/quizzes/{quiz['id']}/publish").status_code == 200
    return quiz


def answer_all(client, attempt, good=True):
    for q in attempt["questions"]:
        body = {
            "mcq_single": {"selected": ["B" if good else "A"]},
            "mcq_multi": {"selected": ["A", "C"] if good else ["B"]},
            "numeric": {"value": 3.14 if good else 3},
            "short_answer": {"text": " paris " if good else "Lyon"},
        }[q["type"]]
        r = client.put(f"/api/v1/attempts/{attempt['id']}/answers/{q['id']}", json=body)
        assert r.status_code == 200, r.json


def test_quiz_lifecycle(staff, learner):
    quiz = make_quiz(staff, pass_mark=60)
    assert quiz["questions"][0]["answer"] == "B"  # staff see answers
    assert learner.get(f"/api/v1/quizzes/{quiz['id']}").json["questions"] == []

    start = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts")
    assert start.status_code == 201
    attempt = start.json
    assert all(q["answer"] is None and q["correct"] is None for q in attempt["questions"])
    # Starting again returns the running attempt.
    again = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts")
    assert (again.status_code, again.json["id"]) == (200, attempt["id"])

    answer_all(learner, attempt)
    # Autosave is an upsert: saving twice keeps one answer.
    q0 = attempt["questions"][0]
    learner.put(f"/api/v1/attempts/{attempt['id']}/answers/{q0['id']}", json={"selected": ["B"]})
    result = learner.post(f"/api/v1/attempts/{attempt['id']}/submit").json
    assert (result["status"], result["score"], result["max_score"], result["passed"]) == (
        "submitted",
        5.0,
        5.0,
        True,
    )
    assert all(q["correct"] for q in result["questions"])
    assert result["questions"][0]["answer"] == "B"
    # Submitting twice returns the same result; saving after submission is refused.
    assert learner.post(f"/api/v1/attempts/{attempt['id']}/submit").json["score"] == 5.0
    r = learner.put(
        f"/api/v1/attempts/{attempt['id']}/answers/{q0['id']}", json={"selected": ["A"]}
    )
    assert r.status_code == 409

    stats = staff.get(f"/api/v1/quizzes/{quiz['id']}/statistics").json
    assert stats["attempts"] == 1 and stats["pass_rate"] == 1.0
    assert learner.get(f"/api/v1/quizzes/{quiz['id']}/statistics").status_code == 403


def test_bad_answers_and_other_learners(staff, learner, api_as):
    quiz = make_quiz(staff)
    attempt = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json
    q = {q["type"]: q for q in attempt["questions"]}
    base = f"/api/v1/attempts/{attempt['id']}/answers"
    assert (
        learner.put(f"{base}/{q['mcq_single']['id']}", json={"selected": ["Z"]}).status_code == 422
    )
    assert (
        learner.put(f"{base}/{q['mcq_single']['id']}", json={"selected": ["A", "B"]}).status_code
        == 422
    )
    assert learner.put(f"{base}/{q['numeric']['id']}", json={"text": "x"}).status_code == 422
    assert learner.put(f"{base}/{q['numeric']['id']}", json={}).status_code == 422
    assert learner.put(f"{base}/999999", json={"value": 1}).status_code == 404
    other = api_as("student")
    assert other.put(f"{base}/{q['numeric']['id']}", json={"value": 3.14}).status_code == 404
    assert other.get(f"/api/v1/attempts/{attempt['id']}").status_code == 404


def test_deadline_and_auto_close(staff, learner, lms, app):
    quiz = make_quiz(staff, time_limit_s=60, feedback_timing="immediate")
    attempt = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json
    q = attempt["questions"][0]
    saved = learner.put(
        f"/api/v1/attempts/{attempt['id']}/answers/{q['id']}", json={"selected": ["B"]}
    ).json
    assert saved["correct"] is True  # immediate feedback
    with app.app_context():
        row = lms.db.session.get(QuizAttempt, attempt["id"])
        row.deadline_at = utcnow() - timedelta(seconds=lms.settings.quizzes.grace_s + 1)
        lms.db.session.commit()
        assert quizzes.close_expired_attempts(lms) == 1
    late = learner.put(
        f"/api/v1/attempts/{attempt['id']}/answers/{q['id']}", json={"selected": ["A"]}
    )
    assert late.status_code == 409 and "Time is up" in late.json["error"]["message"]
    closed = learner.get(f"/api/v1/attempts/{attempt['id']}").json
    assert (closed["status"], closed["score"]) == ("auto_closed", 1.0)


def test_attempt_limit_and_permissions(staff, learner, api_as):
    quiz = make_quiz(staff, attempts_allowed=1)
    attempt = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json
    learner.post(f"/api/v1/attempts/{attempt['id']}/submit")
    assert learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts").status_code == 409
    assert (
        learner.post("/api/v1/quizzes", json={"title": "x", "questions": QUESTIONS}).status_code
        == 403
    )
    other_trainer = api_as("trainer")
    assert other_trainer.delete(f"/api/v1/quizzes/{quiz['id']}").status_code == 403
    assert api_as("admin").delete(f"/api/v1/quizzes/{quiz['id']}").status_code == 204
    bad = staff.post(
        "/api/v1/quizzes",
        json={
            "title": "Bad",
            "questions": [
                {
                    "type": "mcq_single",
                    "prompt": "?",
                    "options": {"A": "x", "B": "y"},
                    "answer": "C",
                }
            ],
        },
    )
    assert bad.status_code == 422 and "questions" in bad.json["error"]["details"]["fields"]


@pytest.fixture
def bank_config(tmp_path):
    root = tmp_path / "content"
    write_bank(write_track(root, "TT"), count=6)
    return {"plugins": {"enabled": ["content_folder"], "content_folder": {"folders": [str(root)]}}}


@pytest.fixture
def lms_config(request):
    return request.getfixturevalue("bank_config") if "draw" in request.node.name else {}


def test_random_draw_prefers_unseen_items(app, lms, staff, make_user, api_client):
    with app.app_context():
        content.sync(lms, lms.db.session)
    learner_user = make_user("student")
    learner = api_client(learner_user)
    learner.post("/api/v1/tracks/TT/enrol")
    r = staff.post(
        "/api/v1/quizzes",
        # Bank codes in any case, as for reviews.
        json={"title": "Draw", "track": "TT", "draw": {"banks": ["tt"], "count": 4}},
    )
    quiz = r.json
    staff.post(f"/api/v1/quizzes/{quiz['id']}/publish")
    nothing = staff.post("/api/v1/quizzes", json={"title": "Draw nothing", "draw": {
        "banks": ["TT"], "facets": ["no/such/facet"], "count": 4}})
    assert nothing.status_code == 422 and "empty quiz" in nothing.json["error"]["message"]
    assert "draw" in nothing.json["error"]["details"]["fields"]
    first = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json
    learner.post(f"/api/v1/attempts/{first['id']}/submit")
    second = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json
    seen = {q["prompt"] for q in first["questions"]}
    fresh = {q["prompt"] for q in second["questions"]}
    assert len(first["questions"]) == 4 and len(seen & fresh) == 0  # 8 items: all unseen


def test_draw_snapshots_items_once_and_again_when_they_change(app, lms, staff, make_user,
                                                              api_client):
    with app.app_context():
        content.sync(lms, lms.db.session)
    quiz = staff.post("/api/v1/quizzes", json={
        "title": "Draw all", "draw": {"banks": ["TT"], "count": 8}}).json
    staff.post(f"/api/v1/quizzes/{quiz['id']}/publish")

    def start_as_new_learner():
        learner = api_client(make_user("student"))
        learner.post("/api/v1/tracks/TT/enrol")
        return learner, learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json

    def snapshots():
        with app.app_context():
            return lms.db.session.scalars(select(QuizQuestion).where(
                QuizQuestion.quiz_id == quiz["id"])).all()

    first_learner, first = start_as_new_learner()
    _, second = start_as_new_learner()
    assert len(first["questions"]) == 8 and len(snapshots()) == 8  # reused by the second
    assert all(row.drawn and row.content_hash for row in snapshots())
    assert staff.get(f"/api/v1/quizzes/{quiz['id']}").json["questions"] == []  # none its own
    with app.app_context():  # a re-import changes one item's content (and its hash)
        item = lms.db.session.scalar(select(Item).where(Item.external_id == "tt-q-001"))
        old_prompt = item.prompt
        item.prompt, item.content_hash = "Question one, reworded?", "0" * 64
        lms.db.session.commit()
    _, third = start_as_new_learner()
    assert "Question one, reworded?" in {q["prompt"] for q in third["questions"]}
    assert len(snapshots()) == 9 and sum(row.retired_at is not None for row in snapshots()) == 1
    # The earlier attempt still shows the question it asked.
    again = first_learner.get(f"/api/v1/attempts/{first['id']}").json
    assert old_prompt in {q["prompt"] for q in again["questions"]}
    first_learner.post(f"/api/v1/attempts/{first['id']}/submit")
    stats = staff.get(f"/api/v1/quizzes/{quiz['id']}/statistics").json
    assert {row["question"] for row in stats["questions"]} >= {f"item-{item.id}"}


def test_replacing_questions_keeps_what_past_attempts_asked(app, lms, staff, learner, api_as):
    quiz = make_quiz(staff)
    attempt = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json
    answer_all(learner, attempt)
    learner.post(f"/api/v1/attempts/{attempt['id']}/submit")
    asked = {q["prompt"] for q in attempt["questions"]}
    assert staff.patch(f"/api/v1/quizzes/{quiz['id']}", json={"status": "draft"}).status_code == 200
    replaced = staff.patch(f"/api/v1/quizzes/{quiz['id']}", json={"questions": [
        {"type": "mcq_single", "prompt": "3 + 3?", "options": {"A": "6", "B": "7"},
         "answer": "A"}]})
    assert [q["prompt"] for q in replaced.json["questions"]] == ["3 + 3?"]
    # Replaced again while no attempt asked "3 + 3?": that row is deleted, not retired.
    staff.patch(f"/api/v1/quizzes/{quiz['id']}", json={"questions": [
        {"type": "mcq_single", "prompt": "4 + 4?", "options": {"A": "8", "B": "9"},
         "answer": "A"}]})
    with app.app_context():
        rows = lms.db.session.scalars(select(QuizQuestion).where(
            QuizQuestion.quiz_id == quiz["id"])).all()
    assert sorted(r.prompt for r in rows if r.retired_at is not None) == sorted(asked)
    assert [r.prompt for r in rows if r.retired_at is None] == ["4 + 4?"]
    staff.post(f"/api/v1/quizzes/{quiz['id']}/publish")

    past = learner.get(f"/api/v1/attempts/{attempt['id']}").json
    assert {q["prompt"] for q in past["questions"]} == asked
    assert (past["score"], past["max_score"]) == (5.0, 5.0)
    assert past["questions"][0]["answer"] == "B"  # answers stay revealed, from the old rows
    stats = staff.get(f"/api/v1/quizzes/{quiz['id']}/statistics").json
    assert {q["prompt"] for q in stats["questions"]} == asked
    other = api_as("student")
    new = other.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json
    assert [q["prompt"] for q in new["questions"]] == ["4 + 4?"]


class EchoGenerator(QuizGenerator):
    name = "echo"

    def generate(self, request):
        if request.prompt == "fail":
            raise GenerationError("The model refused.")
        return [
            GeneratedQuestion(
                type="mcq_single",
                prompt=f"{request.prompt} {n}?",
                options={"A": "yes", "B": "no"},
                correct=("A",),
            )
            for n in range(request.num_questions)
        ]


@pytest.fixture
def generator_app(app_factory):
    plugin = SimpleNamespace(lms_register_quiz_generators=hookimpl(lambda: [EchoGenerator()]))
    return app_factory({"quizzes": {"default_generator": "echo"}}, plugins={"echo_gen": plugin})


def test_generation_runs_as_a_job(generator_app, make_user):
    from lmscore.testing import ApiClient

    lms = generator_app.extensions["lmscore"]
    with generator_app.app_context():
        trainer = make_user("trainer")
    client = ApiClient(generator_app, trainer)
    r = client.post(
        "/api/v1/quizzes/generate", json={"title": "Gen", "prompt": "Is it", "num_questions": 3}
    )
    assert r.status_code == 202 and r.json["generation_status"] == "queued"
    lms.jobs.drain()
    quiz = client.get(f"/api/v1/quizzes/{r.json['id']}").json
    assert (quiz["generation_status"], quiz["status"], len(quiz["questions"])) == (
        "ready",
        "draft",
        3,
    )
    failed = client.post(
        "/api/v1/quizzes/generate", json={"title": "F", "prompt": "fail", "num_questions": 1}
    )
    lms.jobs.drain()
    quiz = client.get(f"/api/v1/quizzes/{failed.json['id']}").json
    assert (quiz["generation_status"], quiz["generation_error"]) == ("failed", "The model refused.")
    unknown = client.post(
        "/api/v1/quizzes/generate", json={"title": "U", "num_questions": 1, "generator": "nope"}
    )
    assert unknown.status_code == 422




@pytest.mark.parametrize("size", [2, 30])
def test_a_start_sends_a_few_statements_whatever_the_quiz_size(size, lms, staff, learner):
    """The learner, the quiz with its questions, the learner's attempts, the attempt, its
    questions (one INSERT … SELECT): nothing per question, nothing reloaded."""
    questions = [{"type": "mcq_single", "prompt": f"{n} + 1?",
                  "options": {"A": str(n + 1), "B": str(n)}, "answer": "A"}
                 for n in range(size)]
    quiz = staff.post("/api/v1/quizzes", json={
        "title": "Sized", "questions": questions, "shuffle_questions": True,
        "shuffle_options": True}).json
    staff.post(f"/api/v1/quizzes/{quiz['id']}/publish")
    with recording_statements(lms.db.engine) as statements:
        start = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts")
    assert start.status_code == 201 and len(start.json["questions"]) == size
    assert len(statements) == 5, "\n".join(s[:90] for s in statements)
    assert sum("attempt_questions" in s for s in statements) == 1
    # What the start returned is what reading the attempt returns.
    assert learner.get(f"/api/v1/attempts/{start.json['id']}").json == start.json
    with recording_statements(lms.db.engine) as statements:
        again = learner.post(f"/api/v1/quizzes/{quiz['id']}/attempts")
    assert again.status_code == 200 and again.json == start.json
