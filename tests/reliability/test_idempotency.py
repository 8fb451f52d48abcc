"""Retries under concurrency: the same request sent many times at once, over HTTP to a real
threaded server (each request on its own connection and database transaction), takes effect
exactly once and every copy gets the same answer. On SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import json
import threading
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from lmscore.db import utcnow
from lmscore.models import (
    AttemptQuestion,
    CardState,
    Deliverable,
    Item,
    OutboxEvent,
    Project,
    QuizAttempt,
    ReviewLog,
    Step,
    Track,
    User,
)
from lmscore.services import banks, learning, quizzes
from lmscore.services.auth import make_access_token
from lmscore.services.banks import ItemSpec

COPIES = 16


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, scratch_database, live_app, serve):
    """(app, base URL, learner token) on a fresh database of each backend."""
    app = live_app(scratch_database(request.param))
    lms = app.extensions["lmscore"]
    with app.app_context():
        session = lms.db.session
        learner = User(email="learner@example.org", name="Learner", password_hash="-")
        trainer = User(email="trainer@example.org", name="Trainer", role="trainer",
                       password_hash="-")
        track = Track(code="ID", name="Idempotency")
        project = Project(track=track, number=1, slug="p", title="P")
        session.add_all([learner, trainer, track, project,
                         Step(project=project, number=1, slug="s", title="S", body_markdown="x"),
                         Deliverable(project=project, key="d", title="D", kind="text")])
        session.flush()
        bank = banks.get_or_create_bank(session, "ID", "Idempotency bank", track.id)
        banks.import_items(session, bank, [("item", ItemSpec(
            external_id="id-1", type="mcq_single", prompt="Pick A.", options={"A": "a", "B": "b"},
            answer="A", facet_path=("a", "b", "c", "d")))], "test")
        session.commit()
        learning.enrol(lms, session, learner, "ID")
        token = make_access_token(lms, learner)
    return app, server_url(serve(app)), token


def server_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def at_once(address: tuple[str, int], method: str, path: str, token: str,
            body: dict | None = None, copies: int = COPIES) -> list[tuple[int, dict]]:
    """Send the same request ``copies`` times, all released together; (status, JSON) each."""
    barrier = threading.Barrier(copies)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send() -> None:
        conn = http.client.HTTPConnection(*address, timeout=60)
        payload = json.dumps(body) if body is not None else None
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        barrier.wait()
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        answer = (response.status, json.loads(response.read() or b"null"))
        conn.close()
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == copies
    return answers


def count(lms, model, *where) -> int:
    with lms.db.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_same_review_answer_sent_many_times_is_recorded_once(served):
    app, address, token = served
    lms = app.extensions["lmscore"]
    with app.app_context():
        item_id = lms.db.session.scalar(select(Item.id).where(Item.external_id == "id-1"))
    body = {"item_id": item_id, "client_attempt_id": "retry-attempt-0001", "selected": ["A"],
            "elapsed_ms": 4000}

    answers = at_once(address, "POST", "/api/v1/reviews", token, body)

    assert {status for status, _ in answers} == {200}, answers
    assert all(answer == answers[0][1] for _, answer in answers)  # one result, replayed
    assert count(lms, ReviewLog) == 1
    assert count(lms, CardState) == 1
    with lms.db.session_factory() as session:
        assert session.scalar(select(CardState.reps)) == 1
    assert count(lms, OutboxEvent, OutboxEvent.name == "review_answered") == 1


def test_the_same_quiz_start_answer_and_submit_sent_many_times_take_effect_once(served):
    app, address, token = served
    lms = app.extensions["lmscore"]
    with app.app_context():
        session = lms.db.session
        trainer = session.scalar(select(User).where(User.role == "trainer"))
        quiz = quizzes.create_quiz(session, trainer, {"title": "Retries", "attempts_allowed": 1},
                                   [quizzes.QuestionInput(type="mcq_single", prompt="Pick A.",
                                                          options={"A": "a", "B": "b"},
                                                          answer="A")], [])
        quizzes.publish(session, trainer, quiz)
        quiz_id = quiz.id

    starts = at_once(address, "POST", f"/api/v1/quizzes/{quiz_id}/attempts", token)
    assert sorted(status for status, _ in starts) == [200] * (COPIES - 1) + [201], starts
    assert len({answer["id"] for _, answer in starts}) == 1
    assert count(lms, QuizAttempt) == 1
    attempt = starts[0][1]
    question = attempt["questions"][0]

    saves = at_once(address, "PUT", f"/api/v1/attempts/{attempt['id']}/answers/{question['id']}",
                    token, {"selected": ["A"]})
    assert {status for status, _ in saves} == {200}, saves
    with lms.db.session_factory() as session:
        saved = session.scalars(select(AttemptQuestion)).all()
    assert [(q.id, q.selected) for q in saved] == [(question["id"], ["A"])]

    submits = at_once(address, "POST", f"/api/v1/attempts/{attempt['id']}/submit", token)
    assert {status for status, _ in submits} == {200}, submits
    assert {(answer["status"], answer["score"]) for _, answer in submits} == {("submitted", 1.0)}
    assert count(lms, OutboxEvent, OutboxEvent.name == "quiz_submitted") == 1
    with lms.db.session_factory() as session:
        finished = session.scalar(select(QuizAttempt.finished_at))
    assert finished is not None and finished <= utcnow()
