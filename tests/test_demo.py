"""`lms demo load`: accounts, enrolments and demo quizzes a newcomer can try at once, created
once however often it runs."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func, select
from tracks_fixture import write_bank, write_track

from lmscore.capabilities import Answer, GradableItem
from lmscore.models import Enrolment, Payment, Quiz, User
from lmscore.services import content, demo


@pytest.fixture
def lms_config(tmp_path):
    root = tmp_path / "content"
    write_bank(write_track(root, "TT"))
    write_track(root, "NB")  # a track without a question bank
    return {"plugins": {"enabled": ["content_folder"],
                        "content_folder": {"folders": [str(root)]}}}


@pytest.fixture
def loaded(app, lms):
    with app.app_context():
        session = lms.db.session
        assert not any(report.error for report in content.sync(lms, session))
        demo.load(lms, session)
        demo.load(lms, session)  # a second run adds nothing
        learner = session.scalar(select(User).where(User.email == "learner@example.org"))
        session.expunge(learner)
    return learner


def test_the_trainer_publishes_a_warm_up_per_bank_and_a_code_quiz_once(app, lms, loaded):
    with app.app_context():
        session = lms.db.session
        quizzes = session.scalars(select(Quiz).order_by(Quiz.title)).all()
        trainer = session.scalar(select(User).where(User.email == "trainer@example.org"))
        assert [q.title for q in quizzes] == ["Test Track TT: warm-up", demo.CODE_QUIZ_TITLE]
        assert {(q.status, q.owner_id) for q in quizzes} == {("published", trainer.id)}


def test_the_demo_learner_can_take_the_warm_up(loaded, api_client):
    learner = api_client(loaded)
    listed = {q["title"]: q for q in learner.get("/api/v1/quizzes").json["items"]}
    assert set(listed) == {"Test Track TT: warm-up", demo.CODE_QUIZ_TITLE}
    start = learner.post(f"/api/v1/quizzes/{listed['Test Track TT: warm-up']['id']}/attempts")
    assert start.status_code == 201, start.json
    assert len(start.json["questions"]) == demo.WARM_UP_QUESTIONS


@pytest.mark.skipif(shutil.which("bwrap") is None,
                    reason="bubblewrap is installed by scripts/test.sh")
@pytest.mark.parametrize("code, score", [
    ("def mean(values):\n    return sum(values) / len(values) if values else None\n", 3),
    ("def mean(values):\n    return sum(values) / len(values)\n", 2),
])
def test_the_code_question_s_tests_pass_a_right_answer_only(lms, code, score):
    question = demo.CODE_QUESTION
    result = lms.graders.get("code").grade(
        GradableItem(id="demo", type="code", prompt=question.prompt,
                     answer_key=question.answer), Answer(text=code))
    assert (result.score, result.max_score) == (score, question.points)



def test_a_paid_track_is_left_for_the_demo_learner_to_buy(app_factory, tmp_path):
    """With a provider that takes payments, loading the demo starts no checkout."""
    from test_payments import LaterPayPlugin

    write_track(tmp_path / "content", "PD", price=2500, projects=1)
    app = app_factory(config={"providers": {"payment_provider": "laterpay"}},
                      plugins={"laterpay": LaterPayPlugin()})
    lms = app.extensions["lmscore"]
    with app.app_context():
        session = lms.db.session
        assert not any(report.error for report in content.sync(lms, session))
        demo.load(lms, session)
        learner = session.scalar(select(User).where(User.email == "learner@example.org"))
        enrolled = {e.track.code: e.status for e in session.scalars(
            select(Enrolment).where(Enrolment.user_id == learner.id))}
        assert enrolled == {"TT": "active", "NB": "active"}  # PD is not free: not started
        assert session.scalar(select(func.count()).select_from(Payment)) == 0
