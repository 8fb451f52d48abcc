"""Recommendations: the capability hook, the core's default recommender, merging with weights,
the API and the dashboard's "why am I seeing this"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from test_web_pages import assert_no_inline_script
from tracks_fixture import write_bank, write_track

from lmscore import hookimpl
from lmscore.capabilities import (
    Recommendation,
    RecommendationKind,
    RecommendationRequest,
    Recommender,
)
from lmscore.db import utcnow
from lmscore.defaults.recommendations import CoreRecommender
from lmscore.errors import StartupError
from lmscore.models import CardState, Item, User
from lmscore.services import content, learning, recommendations, reviews
from lmscore.testing import ApiClient
from lmscore.testing.contracts import RecommenderContract
from lmscore.testing.plugin import DEFAULT_PASSWORD
from lmscore.testing.statements import recording_statements


@pytest.fixture
def lms_config(tmp_path):
    root = tmp_path / "content"
    write_bank(write_track(root, "TT"))
    return {"plugins": {"enabled": ["content_folder"],
                        "content_folder": {"folders": [str(root)]}}}


@pytest.fixture
def learner(app, lms, make_user):
    with app.app_context():
        assert not any(r.error for r in content.sync(lms, lms.db.session))
    user = make_user("student", name="Rea Learner")
    learning.enrol(lms, lms.db.session, user, "TT")
    return user


def review_one(lms, user, *, correct: bool, at) -> None:
    session = lms.db.session
    item_id = session.scalar(select(Item.id).where(Item.external_id == "tt-q-001"))
    reviews.answer(lms, session, user, reviews.ReviewInput(
        item_id=item_id, client_attempt_id=f"rec-{at.timestamp()}",
        selected=("A",) if correct else ("B",)), at)


class QuizOfTheWeek(Recommender):
    """A throwaway recommender: one quiz recommendation with a fixed score."""

    name = "weekly_quiz"

    def __init__(self, score=0.9, target="quiz:1"):
        self.score = score
        self.target = target

    def recommend(self, session, request):
        return [Recommendation(RecommendationKind.QUIZ, self.target, "Quiz of the week",
                               self.score, "Everyone in your cohort takes it this week.",
                               {"cohort_takers": 12}, url="/quizzes/1")]


class Broken(Recommender):
    name = "broken"

    def recommend(self, session, request):
        raise RuntimeError("boom")


def plugin_with(*recommenders):
    class Plugin:
        @hookimpl
        def lms_register_recommenders(self, lms):
            return list(recommenders)

    return Plugin()


def test_hook_lms_register_recommenders(app_factory, make_user, lms_config):
    app = app_factory(plugins={"weekly": plugin_with(QuizOfTheWeek())})
    lms = app.extensions["lmscore"]
    assert lms.recommenders.names() == ["core", "weekly_quiz"]
    assert lms.recommenders.owner("weekly_quiz") == "weekly"
    user = make_user("student")
    body = ApiClient(app, user).get("/api/v1/recommendations/me").json
    assert body["items"] == [{
        "kind": "quiz", "target": "quiz:1", "title": "Quiz of the week", "url": "/quizzes/1",
        "score": 0.9, "provider": "weekly_quiz", "provider_score": 0.9, "weight": 1.0,
        "reason": "Everyone in your cohort takes it this week.",
        "evidence": {"cohort_takers": 12}, "also_from": [],
    }]


def test_weights_rank_and_switch_off_providers(app_factory, make_user, lms_config):
    plugins = {"weekly": plugin_with(QuizOfTheWeek(0.9, "quiz:1")),
               "other": plugin_with(type("Other", (QuizOfTheWeek,), {"name": "other"})(
                   0.5, "quiz:2"))}
    app = app_factory({"recommendations": {"weights": {"weekly_quiz": 0.5, "other": 1.5}}},
                      plugins=plugins)
    lms = app.extensions["lmscore"]
    user = make_user("student")
    with app.app_context():
        ranked = recommendations.for_learner(lms, lms.db.session, user, utcnow())
    assert [(r.provider, r.recommendation.target, r.score) for r in ranked] == [
        ("other", "quiz:2", 0.75), ("weekly_quiz", "quiz:1", 0.45)]

    off = app_factory({"recommendations": {"weights": {"weekly_quiz": 0}}}, plugins=plugins)
    lms = off.extensions["lmscore"]
    with off.app_context():
        ranked = recommendations.for_learner(lms, lms.db.session, user, utcnow())
    assert [r.provider for r in ranked] == ["other"]


def test_same_target_from_two_providers_is_merged(app_factory, make_user, lms_config):
    twin = type("Twin", (QuizOfTheWeek,), {"name": "twin"})(0.6, "quiz:1")
    app = app_factory(plugins={"weekly": plugin_with(QuizOfTheWeek(0.9), twin)})
    lms = app.extensions["lmscore"]
    with app.app_context():
        ranked = recommendations.for_learner(lms, lms.db.session, make_user("student"), utcnow())
    assert len(ranked) == 1
    assert (ranked[0].provider, ranked[0].also_from) == ("weekly_quiz", ("twin",))


def test_a_failing_recommender_is_skipped(app_factory, make_user, lms_config, caplog):
    app = app_factory(plugins={"weekly": plugin_with(Broken(), QuizOfTheWeek())})
    lms = app.extensions["lmscore"]
    with app.app_context():
        ranked = recommendations.for_learner(lms, lms.db.session, make_user("student"), utcnow())
    assert [r.provider for r in ranked] == ["weekly_quiz"]
    assert "recommender 'broken' failed" in caplog.text


def test_weight_for_an_unknown_recommender_stops_start_up(app_factory, lms_config):
    with pytest.raises(StartupError, match="recommendations.weights .* names 'nope'"):
        app_factory({"recommendations": {"weights": {"nope": 2}}})


def test_core_recommends_next_step_then_due_reviews(lms, learner, app):
    now = utcnow()
    with app.app_context():
        ranked = recommendations.for_learner(lms, lms.db.session, learner, now)
        assert [r.recommendation.kind for r in ranked] == [RecommendationKind.NEXT_STEP]
        step = ranked[0].recommendation
        assert step.title == "TT · Project 1: Step 1.1"
        assert step.reason == "You have done 0 of 2 steps of project 1."
        assert step.evidence["steps_total"] == 2

        review_one(lms, learner, correct=False, at=now - timedelta(days=2))
        ranked = recommendations.for_learner(lms, lms.db.session, learner, now)
    # One due card ranks under the next step (0.51 < 0.7); many would rank above it.
    assert [r.recommendation.kind for r in ranked] == [RecommendationKind.NEXT_STEP,
                                                       RecommendationKind.REVIEW_DUE]
    due = ranked[1].recommendation
    assert due.target == "bank:TT" and ranked[1].score == 0.51
    assert due.evidence["due"] == 1 and due.evidence["days_waited"] == 2
    assert "1 review due" in due.reason and "waited 2 days" in due.reason


def test_recommenders_are_handed_the_callers_progress(app_factory, learner, lms_config):
    """The dashboard computes track progress for its own panels and hands it over: neither
    the core recommender nor another one computes it again. Without it, it is computed."""
    seen = []

    class Recorder(Recommender):
        name = "recorder"

        def recommend(self, session, request):
            user = session.get(User, request.user_id)
            seen.append(recommendations.learner_progress(session, user, request))
            return []

    app = app_factory(plugins={"recorder": plugin_with(Recorder())})
    lms = app.extensions["lmscore"]
    with app.app_context():
        session = lms.db.session
        progress = learning.my_progress(session, learner)
        with recording_statements(lms.db.engine) as statements:
            ranked = recommendations.for_learner(lms, session, learner, utcnow(),
                                                 progress=progress)
        assert [r.recommendation.title for r in ranked] == ["TT · Project 1: Step 1.1"]
        assert list(seen.pop()) == progress
        assert not any(re.search(r"\bFROM (projects|enrolments)\b", s) for s in statements)

        recommendations.for_learner(lms, session, learner, utcnow())
        assert [p.track.code for p in seen.pop()] == ["TT"]


class ProjectTip(Recommender):
    """Recommends one project whatever its state, as a plugin that remembers an unlock
    (made stale by a withdrawn waiver) would."""

    name = "project_tip"

    def __init__(self, project_id):
        self.project_id = project_id

    def recommend(self, session, request):
        return [Recommendation(RecommendationKind.ADVANCED_PROJECT, f"project:{self.project_id}",
                               "Start project 2", 0.9, "A trainer opened it for you.",
                               project_id=self.project_id)]


def test_a_project_locked_for_the_learner_is_never_recommended(
        app_factory, lms, learner, make_user, lms_config):
    session = lms.db.session
    second = learning.get_track(session, "TT").projects[1]  # needs project 1
    app = app_factory(plugins={"tip": plugin_with(ProjectTip(second.id))})
    lms = app.extensions["lmscore"]

    def offered():
        with app.app_context():
            return [r.recommendation.target
                    for r in recommendations.for_learner(lms, session, learner, utcnow())]

    assert offered() == [f"step:{learning.get_track(session, 'TT').projects[0].steps[0].id}"]
    admin = make_user("admin")
    learning.waive_prerequisites(session, admin, learner, second, "Knows it already")
    assert f"project:{second.id}" in offered()
    learning.revoke_waiver(session, admin, learner, second)  # locked again
    assert f"project:{second.id}" not in offered()
    body = ApiClient(app, learner).get("/api/v1/recommendations/me").json
    assert f"project:{second.id}" not in [r["target"] for r in body["items"]]


def test_core_gives_staff_nothing(lms, app, make_user):
    with app.app_context():
        assert recommendations.for_learner(lms, lms.db.session, make_user("trainer"),
                                           utcnow()) == []


def test_api_limit_is_validated(api_client, learner):
    api = api_client(learner)
    assert len(api.get("/api/v1/recommendations/me?limit=1").json["items"]) == 1
    bad = api.get("/api/v1/recommendations/me?limit=0")
    assert bad.status_code == 422 and "limit" in str(bad.json["error"])


def test_dashboard_explains_each_recommendation(web, learner, lms, make_user):
    web.sign_in(learner.email, DEFAULT_PASSWORD)
    html = web.get("/dashboard").text
    assert "Recommended for you" in html
    assert '<span class="meta">Next step in Test Track TT</span>' in html  # the short reason
    assert "<summary>Why am I seeing this?</summary>" in html
    assert "You have done 0 of 2 steps of project 1." in html
    assert "steps total" in html  # the evidence table
    # Which provider suggested it, and its score, are for staff.
    assert "Suggested by" not in html and "score 0.70" not in html
    assert_no_inline_script(html)

    superadmin = make_user("superadmin")  # staff who may also learn
    learning.enrol(lms, lms.db.session, superadmin, "TT")
    staff = web.application.test_client()
    staff.sign_in(superadmin.email, DEFAULT_PASSWORD)
    assert "Suggested by core · score 0.70" in staff.get("/dashboard").text


def test_short_reasons_of_the_core_recommender(lms, learner, app):
    now = utcnow()
    review_one(lms, learner, correct=False, at=now - timedelta(days=2))
    with app.app_context():
        ranked = recommendations.for_learner(lms, lms.db.session, learner, now)
    assert [r.recommendation.summary for r in ranked] == [
        "Next step in Test Track TT", "Review: 1 card due in Test Track TT question bank"]


class TestCoreRecommenderContract(RecommenderContract):
    @pytest.fixture
    def provider(self):
        return CoreRecommender()

    @pytest.fixture
    def session(self, lms, app):
        with app.app_context():
            yield lms.db.session

    @pytest.fixture
    def recommendation_request(self, learner, lms):
        card_due = utcnow()
        review_one(lms, learner, correct=False, at=card_due - timedelta(hours=1))
        assert lms.db.session.scalar(select(CardState.id)) is not None
        return RecommendationRequest(user_id=learner.id, now=card_due, limit=5)
