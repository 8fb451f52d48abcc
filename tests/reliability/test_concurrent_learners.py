"""Concurrency (issue #11): 50 learners at once, for a bounded time, against a real threaded
server on the session's database (SQLite, or PostgreSQL with LMSCORE_TEST_DATABASE_URL; `make
test` runs both). Each learner keeps one HTTP connection and does what learners do: asks for
the next reviews and answers them (sometimes a retry of the same answer), takes the quiz
(start, autosave answers, change some, submit) and hands in work once. Afterwards the database
holds exactly what the clients saw succeed: no lost or duplicated answers, reviews, attempts
or submissions, no 5xx, no request stuck (a deadlock would hang or fail one)."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from lmscore.models import (
    AttemptQuestion,
    CardState,
    Deliverable,
    OutboxEvent,
    Project,
    QuizAttempt,
    ReviewLog,
    Step,
    Submission,
    Track,
    User,
)
from lmscore.services import banks, learning, quizzes
from lmscore.services.auth import make_access_token
from lmscore.services.banks import ItemSpec

LEARNERS = 50
#: How long learners keep starting new actions; an action under way is finished.
BUSY_S = 4.0
ITEMS = 12
QUESTIONS = 3


@dataclass
class Seen:
    """What one learner's client saw succeed."""

    reviews: Counter = field(default_factory=Counter)  # item id → answers recorded
    attempts: dict[int, dict[str, Any]] = field(default_factory=dict)  # id → final answers
    submissions: list[int] = field(default_factory=list)
    surprises: list[str] = field(default_factory=list)
    requests: int = 0


class Learner:
    """One learner's client: one keep-alive connection, a seeded random mix of actions."""

    def __init__(self, address: tuple[str, int], token: str, index: int, quiz_id: int,
                 deliverable_id: int):
        self.address, self.token = address, token
        self.random = random.Random(index)
        self.quiz_id, self.deliverable_id = quiz_id, deliverable_id
        self.seen = Seen()
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: dict | None = None,
             expect: tuple[int, ...] = (200,)) -> tuple[int, Any]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(*self.address, timeout=60)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                          headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        if response.will_close:
            self.conn.close()
            self.conn = None
        self.seen.requests += 1
        answer = json.loads(raw) if raw else None
        if response.status not in expect:
            self.seen.surprises.append(f"{method} {path} → {response.status} {answer}")
        return response.status, answer

    def run(self, start: threading.Barrier) -> None:
        start.wait()
        deadline = time.monotonic() + BUSY_S  # everyone is released at the same moment
        try:
            while time.monotonic() < deadline:
                roll = self.random.random()
                if roll < 0.55:
                    self.review()
                elif roll < 0.95:
                    self.take_quiz()
                else:
                    self.hand_in()
        except Exception as exc:  # a timeout or a dropped connection is a finding too
            self.seen.surprises.append(f"{type(exc).__name__}: {exc}")
        finally:
            if self.conn is not None:
                self.conn.close()

    def review(self) -> None:
        status, due = self.call("GET", "/api/v1/reviews/next?bank=CL&limit=3", expect=(200, 204))
        if status != 200:
            return
        item_id = self.random.choice(due["items"])["id"]
        body = {"item_id": item_id, "client_attempt_id": uuid.uuid4().hex,
                "selected": [self.random.choice("AB")], "elapsed_ms": 1500}
        status, result = self.call("POST", "/api/v1/reviews", body)
        if status != 200:
            return
        self.seen.reviews[item_id] += 1
        if result["state"]["reps"] != self.seen.reviews[item_id]:
            self.seen.surprises.append(f"item {item_id}: reps {result['state']['reps']}, "
                                       f"{self.seen.reviews[item_id]} answers sent")
        if self.random.random() < 0.15:  # the app retries after a lost reply: a replay
            status, again = self.call("POST", "/api/v1/reviews", body)
            if status == 200 and again != result:
                self.seen.surprises.append(f"retry of {body['client_attempt_id']} differs")

    def take_quiz(self) -> None:
        status, attempt = self.call("POST", f"/api/v1/quizzes/{self.quiz_id}/attempts",
                                    expect=(201,))
        if status != 201:
            return
        answers: dict[int, list[str]] = {}
        for question in attempt["questions"]:
            for _ in range(self.random.randint(1, 3)):  # autosave, sometimes a change of mind
                choice = [self.random.choice("AB")]
                status, _saved = self.call(
                    "PUT", f"/api/v1/attempts/{attempt['id']}/answers/{question['id']}",
                    {"selected": choice})
                if status == 200:
                    answers[question["id"]] = choice
        status, done = self.call("POST", f"/api/v1/attempts/{attempt['id']}/submit")
        if status != 200:
            return
        score = sum(1.0 for selected in answers.values() if selected == ["A"])
        if (done["status"], done["score"]) != ("submitted", score):
            self.seen.surprises.append(f"attempt {attempt['id']}: {done['status']} "
                                       f"{done['score']}, expected {score}")
        self.seen.attempts[attempt["id"]] = {"answers": answers, "score": score}

    def hand_in(self) -> None:
        # The first hand-in is accepted; later ones wait for the trainer's review (409).
        expect = (409,) if self.seen.submissions else (201,)
        status, created = self.call("POST", "/api/v1/submissions",
                                    {"deliverable_id": self.deliverable_id, "text": "my work"},
                                    expect=expect)
        if status == 201:
            self.seen.submissions.append(created["id"])


@pytest.fixture
def classroom(scratch_database, live_app, serve):
    """(app, server address, learner tokens, quiz id, deliverable id) on a fresh database of
    the test session's backend (``make test`` runs a SQLite and a PostgreSQL pass)."""
    app = live_app(scratch_database())
    lms = app.extensions["lmscore"]
    with app.app_context():
        session = lms.db.session
        trainer = User(email="trainer@example.org", name="Trainer", role="trainer",
                       password_hash="-")
        learners = [User(email=f"learner{n}@example.org", name=f"Learner {n}",
                         password_hash="-") for n in range(LEARNERS)]
        track = Track(code="CL", name="Concurrency")
        project = Project(track=track, number=1, slug="p", title="P")
        deliverable = Deliverable(project=project, key="d", title="D", kind="text")
        session.add_all([trainer, *learners, track, project, deliverable,
                         Step(project=project, number=1, slug="s", title="S", body_markdown="x")])
        session.flush()
        bank = banks.get_or_create_bank(session, "CL", "Concurrency bank", track.id)
        banks.import_items(session, bank, [("item", ItemSpec(
            external_id=f"cl-{n}", type="mcq_single", prompt=f"Pick A ({n}).",
            options={"A": "a", "B": "b"}, answer="A", facet_path=("a", "b", "c", "d")))
            for n in range(ITEMS)], "test")
        session.commit()
        for learner in learners:
            learning.enrol(lms, session, learner, "CL")
        quiz = quizzes.create_quiz(session, trainer, {"title": "Busy quiz"}, [
            quizzes.QuestionInput(type="mcq_single", prompt=f"Q{n}: pick A.",
                                  options={"A": "a", "B": "b"}, answer="A")
            for n in range(QUESTIONS)], [])
        quizzes.publish(session, trainer, quiz)
        tokens = {learner.id: make_access_token(lms, learner) for learner in learners}
        ids = quiz.id, deliverable.id
    parts = urlsplit(serve(app))
    return app, (parts.hostname, parts.port), tokens, *ids


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_fifty_learners_at_once_lose_and_duplicate_nothing(classroom):
    app, address, tokens, quiz_id, deliverable_id = classroom
    lms = app.extensions["lmscore"]
    learners = {user_id: Learner(address, token, n, quiz_id, deliverable_id)
                for n, (user_id, token) in enumerate(sorted(tokens.items()))}
    start = threading.Barrier(LEARNERS)
    threads = [threading.Thread(target=learner.run, args=(start,))
               for learner in learners.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BUSY_S + 60)
    assert not any(thread.is_alive() for thread in threads), "a learner's request never ended"

    surprises = [f"learner {user_id}: {s}" for user_id, learner in learners.items()
                 for s in learner.seen.surprises]
    assert surprises == []
    seen = {user_id: learner.seen for user_id, learner in learners.items()}
    # Every learner got through at least one action (the seeds make the first ones a mix of
    # reviews and quizzes, so both kinds of effect are checked below).
    assert all(s.requests for s in seen.values())

    with lms.db.session_factory() as session:
        reviews = Counter(tuple(row) for row in session.execute(
            select(ReviewLog.user_id, ReviewLog.item_id)))
        cards = {(user_id, item_id): reps for user_id, item_id, reps in session.execute(
            select(CardState.user_id, CardState.item_id, CardState.reps))}
        expected_reviews = Counter({(user_id, item_id): n for user_id, s in seen.items()
                                    for item_id, n in s.reviews.items()})
        assert expected_reviews and reviews == expected_reviews
        assert cards == dict(expected_reviews)
        assert count(session, OutboxEvent, OutboxEvent.name == "review_answered") == sum(
            expected_reviews.values())

        attempts = {a.id: a for a in session.scalars(select(QuizAttempt))}
        expected_attempts = {attempt_id: (user_id, final) for user_id, s in seen.items()
                             for attempt_id, final in s.attempts.items()}
        assert expected_attempts and set(attempts) == set(expected_attempts)
        for attempt_id, (user_id, final) in expected_attempts.items():
            attempt = attempts[attempt_id]
            assert (attempt.user_id, attempt.status, attempt.score) == (
                user_id, "submitted", final["score"])
        saved = {q.id: q.selected for q in session.scalars(select(AttemptQuestion).where(
            AttemptQuestion.selected.is_not(None)))}
        assert saved == {question_id: selected for _, final in expected_attempts.values()
                         for question_id, selected in final["answers"].items()}
        assert count(session, OutboxEvent, OutboxEvent.name == "quiz_submitted") == len(
            expected_attempts)

        submitted = [tuple(row) for row in session.execute(
            select(Submission.id, Submission.user_id))]
        assert sorted(submitted) == sorted((submission_id, user_id) for user_id, s in seen.items()
                                           for submission_id in s.submissions)
        assert count(session, OutboxEvent, OutboxEvent.name == "submission_created") == len(
            submitted)
    figures = (sum(expected_reviews.values()), len(expected_attempts), len(submitted),
               sum(s.requests for s in seen.values()))
    print("reviews {}, quiz attempts {}, submissions {}, requests {}".format(*figures))
