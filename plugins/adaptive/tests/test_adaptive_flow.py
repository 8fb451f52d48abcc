"""The plugin in an app: diagnostic, incremental jobs, recommendations, weekly paths, trainer
reports, API permissions and pages."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from lms_adaptive import fitting, jobs, observations, paths
from lms_adaptive.evidence import Week
from lms_adaptive.models import (
    Diagnostic,
    FacetParameters,
    ItemParameters,
    Mastery,
    Observation,
    Unlock,
    Watermark,
)
from sqlalchemy import func, select

from lmscore.db import utcnow
from lmscore.models import AuditEntry, Item, PrerequisiteWaiver, Project, Quiz, QuizAttempt
from lmscore.services import content, learning, quizzes, reviews
from lmscore.testing import ApiClient
from lmscore.testing.plugin import DEFAULT_PASSWORD

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from tracks_fixture import write_bank, write_track  # noqa: E402


def python_bank(track_folder: Path) -> None:
    """Eight Python items of difficulty 1–5: a second topic, named in project 1's stack."""
    items = [{"id": f"py-{n}", "type": "mcq_single", "question": f"Python {n}?",
              "options": {"A": "right", "B": "wrong"}, "answer": "A",
              "difficulty": 1 + n % 5} for n in range(8)]
    (track_folder / "bank" / "python__basics__syntax__loops.json").write_text(json.dumps(items))


@pytest.fixture
def lms_config(tmp_path):
    root = tmp_path / "content"
    folder = write_track(root, "TT", projects=3)
    write_bank(folder)
    python_bank(folder)
    return {"plugins": {"enabled": ["content_folder", "adaptive"],
                        "content_folder": {"folders": [str(root)]},
                        "adaptive": {"bkt_min_observations": 20, "irt_min_responses": 10,
                                     "unlock_skill": 6}}}


@pytest.fixture
def learner(app, lms, make_user):
    with app.app_context():
        assert not any(r.error for r in content.sync(lms, lms.db.session))
    user = make_user("student", name="Ada Adaptive")
    learning.enrol(lms, lms.db.session, user, "TT")
    return user


def item_id(lms, external_id):
    return lms.db.session.scalar(select(Item.id).where(Item.external_id == external_id))


def review(lms, user, external_id, correct, at):
    reviews.answer(lms, lms.db.session, user, reviews.ReviewInput(
        item_id=item_id(lms, external_id), client_attempt_id=f"a-{user.id}-{at.timestamp()}",
        selected=("A",) if correct else ("B",)), at)


def project_statuses(lms, user) -> dict[int, str]:
    lms.db.session.expire_all()
    track = learning.get_track(lms.db.session, "TT")
    return {p.project.number: p.status
            for p in learning.track_progress(lms.db.session, user, track).projects}


def web_as(app, user):
    client = app.test_client()
    client.sign_in(user.email, DEFAULT_PASSWORD)
    return client


def answer_all(api, diagnostic, right: bool):
    levels = []
    while diagnostic["status"] == "in_progress":
        levels.append(diagnostic["answers"][-1]["level"] if diagnostic["answers"] else None)
        question = diagnostic["question"]
        body = ({"selected": ["A" if right else "B"]} if question["type"] == "mcq_single"
                else {"text": "where"} if question["type"] == "short_answer"
                else {"value": 3.14})
        response = api.post(f"/api/v1/adaptive/diagnostics/{diagnostic['id']}/answer", json=body)
        assert response.status_code == 200, response.json
        diagnostic = response.json
    return diagnostic


def test_diagnostic_climbs_after_right_answers_and_unlocks(app, lms, learner):
    api = ApiClient(app, learner)
    started = api.post("/api/v1/adaptive/diagnostics", json={"track": "TT"})
    assert started.status_code == 201
    assert "answer" not in started.json["question"]  # never the key
    done = answer_all(api, started.json, right=True)
    assert done["status"] == "finished" and set(done["results"]) == {"python", "sql"}
    ladder = [a["level"] for a in done["answers"] if a["topic"] == "python"]
    assert ladder == [5, 8, 10]  # up 3, then up 2 (capped at 10)
    assert all(r["skill"] >= 7 for r in done["results"].values())
    # Project 2 needs project 1, whose stack names Python: proposed, waiting for a trainer.
    unlock = lms.db.session.scalar(select(Unlock))
    project = lms.db.session.get(Project, unlock.project_id)
    assert (project.number, unlock.status) == (2, "pending")
    assert unlock.evidence["prerequisites"]["1"]["python"] >= 6
    # The answers feed knowledge tracing like any other.
    assert lms.db.session.scalar(select(func.count()).select_from(Observation).where(
        Observation.source == "diagnostic")) == len(done["answers"])


def test_diagnostic_goes_easier_after_wrong_answers(app, lms, learner):
    api = ApiClient(app, learner)
    done = answer_all(api, api.post("/api/v1/adaptive/diagnostics", json={"track": "TT"}).json,
                      right=False)
    ladder = [a["level"] for a in done["answers"] if a["topic"] == "python"]
    assert ladder == [5, 2, 1]
    assert done["results"]["python"]["skill"] <= 4
    assert lms.db.session.scalar(select(Unlock)) is None


def test_diagnostic_input_errors_and_access(app, lms, learner, make_user):
    api = ApiClient(app, learner)
    started = api.post("/api/v1/adaptive/diagnostics", json={"track": "TT"}).json
    bad = api.post(f"/api/v1/adaptive/diagnostics/{started['id']}/answer", json={})
    assert bad.status_code == 422 and "answer" in bad.json["error"]["details"]["fields"]
    assert api.post("/api/v1/adaptive/diagnostics", json={}).status_code == 422
    assert api.post("/api/v1/adaptive/diagnostics",
                    json={"track": "NOPE"}).status_code == 404
    nul = api.post("/api/v1/adaptive/diagnostics", json={"track": "T\u0000T"})
    assert nul.status_code == 422 and "track" in nul.json["error"]["details"]["fields"]
    nul = api.post(f"/api/v1/adaptive/diagnostics/{started['id']}/answer",
                   json={"text": "a\u0000b"})
    assert nul.status_code == 422 and "text" in nul.json["error"]["details"]["fields"]
    other = ApiClient(app, make_user("student"))
    assert other.get(f"/api/v1/adaptive/diagnostics/{started['id']}").status_code == 404
    assert other.post("/api/v1/adaptive/diagnostics", json={"track": "TT"}).status_code == 403


def test_trainer_approves_an_unlock_of_an_assigned_learner(app, lms, learner, make_user):
    trainer, stranger = make_user("trainer"), make_user("trainer")
    learner.trainer_id = trainer.id
    lms.db.session.commit()
    answer_all(ApiClient(app, learner),
               ApiClient(app, learner).post("/api/v1/adaptive/diagnostics",
                                            json={"track": "TT"}).json, right=True)
    # Projects 2 and 3 both need only Python-stack projects.
    unlock_ids = lms.db.session.scalars(select(Unlock.id).order_by(Unlock.id)).all()
    assert len(unlock_ids) == 2
    unlock_id = unlock_ids[0]
    assert ApiClient(app, stranger).get("/api/v1/adaptive/unlocks").json["unlocks"] == []
    assert ApiClient(app, stranger).post(f"/api/v1/adaptive/unlocks/{unlock_id}/decision",
                                         json={"approve": True}).status_code == 404
    mine = ApiClient(app, trainer)
    assert [u["id"] for u in mine.get("/api/v1/adaptive/unlocks").json["unlocks"]] == unlock_ids
    assert project_statuses(lms, learner) == {1: "not_started", 2: "locked", 3: "locked"}
    assert mine.post(f"/api/v1/adaptive/unlocks/{unlock_id}/decision",
                     json={"approve": True}).json["status"] == "approved"
    # The approval opens project 2 through the core's waiver; nothing is marked completed.
    assert project_statuses(lms, learner) == {1: "not_started", 2: "not_started", 3: "locked"}
    waiver = lms.db.session.scalar(select(PrerequisiteWaiver))
    assert (waiver.source, waiver.granted_by_id) == ("adaptive", trainer.id)
    assert waiver.reason.startswith("Placement diagnostic: python ")
    second = lms.db.session.get(Project, waiver.project_id)
    learning.complete_step(lms.db.session, learner, second.steps[0].id)
    page = web_as(app, learner).get("/tracks/TT").text
    assert f"Unlocked by your trainer, {trainer.name}: Placement diagnostic: python" in page
    assert mine.post(f"/api/v1/adaptive/unlocks/{unlock_ids[1]}/decision",
                     json={"approve": False}).json["status"] == "rejected"
    assert len(lms.db.session.scalars(select(PrerequisiteWaiver)).all()) == 1
    assert ApiClient(app, learner).post(f"/api/v1/adaptive/unlocks/{unlock_id}/decision",
                                        json={"approve": True}).status_code == 403
    recs = ApiClient(app, learner).get("/api/v1/recommendations/me").json["items"]
    advanced = [r for r in recs if r["kind"] == "advanced_project"]
    assert advanced and "placement diagnostic" in advanced[0]["reason"]


def test_automatic_unlock(app_factory, lms, learner):
    automatic = app_factory({"plugins": {"adaptive": {"unlock": "automatic"}}})
    api = ApiClient(automatic, learner)
    answer_all(api, api.post("/api/v1/adaptive/diagnostics", json={"track": "TT"}).json, True)
    assert set(lms.db.session.scalars(select(Unlock.status))) == {"approved"}
    # Projects 2 and 3 open at once (waivers without a person); 1 is still to do.
    assert project_statuses(lms, learner) == {1: "not_started", 2: "not_started",
                                              3: "not_started"}
    waivers = lms.db.session.scalars(select(PrerequisiteWaiver)).all()
    assert {(w.source, w.granted_by_id) for w in waivers} == {("adaptive", None)}
    assert {e.actor_id for e in lms.db.session.scalars(select(AuditEntry))} == {None}
    page = web_as(automatic, learner).get("/tracks/TT").text
    assert page.count("Unlocked automatically: Placement diagnostic: python") == 2


def test_an_unlock_locked_again_is_no_longer_recommended(app_factory, lms, learner, make_user):
    automatic = app_factory({"plugins": {"adaptive": {"unlock": "automatic"}}})
    api = ApiClient(automatic, learner)
    answer_all(api, api.post("/api/v1/adaptive/diagnostics", json={"track": "TT"}).json, True)
    session = lms.db.session
    projects = {p.number: p for p in learning.get_track(session, "TT").projects}

    def advanced() -> set[str]:
        return {r["target"] for r in api.get("/api/v1/recommendations/me").json["items"]
                if r["kind"] == "advanced_project"}

    assert advanced() == {f"project:{projects[2].id}", f"project:{projects[3].id}"}
    learning.revoke_waiver(session, make_user("admin"), learner, projects[3])
    assert project_statuses(lms, learner)[3] == "locked"
    # The unlock's record stays approved: the lock, not the plugin's memory, decides.
    assert session.scalar(select(Unlock.status).where(
        Unlock.project_id == projects[3].id)) == "approved"
    assert advanced() == {f"project:{projects[2].id}"}


def test_ingest_and_mastery_are_incremental(app, lms, learner):
    now = utcnow()
    with app.app_context():
        for n in range(4):
            review(lms, learner, "tt-q-001", True, now - timedelta(minutes=10 - n))
        jobs.refresh(lms)
        session = lms.db.session
        assert session.scalar(select(func.count()).select_from(Observation)) == 4
        mark = session.get(Watermark, "ingest.review").position
        first = session.scalar(select(Mastery))
        assert first.observations == 4 and first.p_mastery > 0.9
        jobs.refresh(lms)  # nothing new: nothing copied twice
        assert session.scalar(select(func.count()).select_from(Observation)) == 4
        for n in range(3):
            review(lms, learner, "tt-q-002", False, now - timedelta(minutes=5 - n))
        jobs.refresh(lms)
        assert session.get(Watermark, "ingest.review").position > mark
        session.refresh(first)
        assert first.observations == 7 and first.correct == 4
        assert first.p_mastery < 0.9  # three wrong answers pull it down


def test_quiz_answers_are_ingested_once(app, lms, learner, make_user):
    trainer = make_user("trainer")
    session = lms.db.session
    quiz = quizzes.create_quiz(session, trainer, {"title": "Q", "track": "TT"}, [],
                               [item_id(lms, "tt-q-001"), item_id(lms, "tt-q-002")])
    quizzes.publish(session, trainer, quiz)
    with app.app_context():
        attempt, _ = quizzes.start_attempt(lms, session, learner, quiz.id, utcnow())
        for q in attempt.questions:
            quizzes.save_answer(lms, session, learner, attempt.id, q.id,
                                quizzes.AnswerInput(selected=["B"]), utcnow())
        quizzes.submit(lms, session, learner, attempt.id, utcnow())
        assert observations.ingest(session, 10) == 2
        assert observations.ingest(session, 10) == 0
        jobs.refresh(lms)
        recs = ApiClient(app, learner).get("/api/v1/recommendations/me").json["items"]
    revise = [r for r in recs if r["kind"] == "revise_facet"]
    assert revise and revise[0]["provider"] == "adaptive"
    assert "you got 0 of 2 questions on it right (0 %, below 60 %)" in revise[0]["reason"]
    assert revise[0]["evidence"]["recent_quiz_questions"] == 2
    # The dashboard's short reason, without the provider and its score.
    dashboard = web_as(app, learner).get("/dashboard").text
    assert "Struggling facet: 0 of 2 right in recent quizzes" in dashboard
    assert "Suggested by adaptive" not in dashboard


def test_refit_jobs_fit_only_what_has_new_data(app, lms, learner, make_user):
    """Synthetic learners answer the TT items; the BKT and IRT jobs fit them, and a second run
    with no new answers fits nothing."""
    session = lms.db.session
    items = session.scalars(select(Item).where(Item.external_id.like("tt-q-%"))).all()
    rng = np.random.default_rng(1)
    rows, now = [], utcnow()
    for n in range(40):
        user = make_user("student")
        skill = rng.normal()
        for k, item in enumerate(items):
            right = rng.random() < 1 / (1 + np.exp(-(skill - (k - 2.5) / 2)))
            rows.append(Observation(user_id=user.id, item_id=item.id, facet_id=item.facet_id,
                                    correct=bool(right), observed_at=now, source="test",
                                    source_id=n * 100 + k))
    session.add_all(rows)
    session.commit()
    settings = lms.plugin_config("adaptive")
    with app.app_context():
        assert fitting.refit_bkt(session, settings, 30) == [items[0].facet_id]
        assert fitting.refit_irt(session, settings, 30) == sorted(i.id for i in items)
        params = session.get(FacetParameters, items[0].facet_id)
        assert params.observations == 240 and 0 < params.learn < 1
        easiest, hardest = (session.get(ItemParameters, items[0].id),
                            session.get(ItemParameters, items[-1].id))
        assert easiest.difficulty < hardest.difficulty
        assert fitting.refit_bkt(session, settings, 30) == []
        assert fitting.refit_irt(session, settings, 30) == []
        assert session.scalar(select(func.count()).select_from(Mastery)) == 40


def test_weekly_adjustment_rules_cite_their_numbers():
    settings = {"weekly_step_target": 5}
    low = Week(quiz_average=48.0, quizzes=2, quizzes_failed=2, steps_completed=3, reviews=20,
               retention=0.65, overdue_reviews=0, mean_mastery=0.4)
    plan, changes = paths.adjust(settings, low, None, ["sql/querying/joins/join-types"])
    assert plan["steps_per_week"] == 4 and plan["review_sessions_per_week"] == 7
    assert [c["change"] for c in changes] == ["slow_down", "review_daily"]
    assert "48 % over 2 quiz(zes), below 60 %: 5 → 4" in changes[0]["reason"]
    assert "65 % of 20 reviews" in changes[1]["reason"]
    high = Week(quiz_average=92.0, quizzes=3, quizzes_failed=0, steps_completed=5, reviews=0,
                retention=None, overdue_reviews=0, mean_mastery=0.9)
    plan, changes = paths.adjust(settings, high, plan, [])
    assert plan["steps_per_week"] == 5 and plan["go_further"]
    assert changes[0]["change"] == "speed_up" and changes[0]["evidence"]["quiz_average"] == 92.0
    idle = Week(None, 0, 0, 0, 0, None, 0, None)
    assert paths.adjust(settings, idle, plan, [])[1][0]["change"] == "keep"


def test_weekly_job_keeps_history_and_notifies_once(app, lms, learner, jobs_queue, mailbox):
    now = utcnow()
    with app.app_context():
        review(lms, learner, "tt-q-001", False, now - timedelta(days=1))
        review(lms, learner, "tt-q-001", False, now - timedelta(hours=20))
        assert paths.adjust_all(lms, now) == 1
        assert paths.adjust_all(lms, now) == 0  # one snapshot per week
        assert paths.adjust_all(lms, now + timedelta(days=7)) == 1  # next week: history
        jobs_queue.drain()
    snapshots = paths.history(lms.db.session, learner.id)
    assert len(snapshots) == 2 and all(s.notified_at for s in snapshots)
    sent = [m for m in mailbox() if "learning path" in m["Subject"]]
    assert len(sent) == 2 and sent[0]["To"] == learner.email
    assert "recalled 0 % of 1 reviews" in sent[0].get_body(("plain",)).get_content()


@pytest.fixture
def jobs_queue(lms):
    return lms.jobs


def test_struggling_report_is_per_assigned_learner(app, lms, learner, make_user):
    trainer, other = make_user("trainer"), make_user("trainer")
    learner.trainer_id = trainer.id
    lms.db.session.commit()
    session = lms.db.session
    quiz = quizzes.create_quiz(session, trainer, {"title": "Q", "track": "TT", "pass_mark": 80},
                               [], [item_id(lms, "tt-q-001")])
    quizzes.publish(session, trainer, quiz)
    with app.app_context():
        for _ in range(2):
            attempt, _ = quizzes.start_attempt(lms, session, learner, quiz.id, utcnow())
            quizzes.submit(lms, session, learner, attempt.id, utcnow())
    assert session.scalar(select(func.count()).select_from(QuizAttempt)) == 2
    rows = ApiClient(app, trainer).get("/api/v1/adaptive/struggling").json["learners"]
    assert [r["name"] for r in rows] == ["Ada Adaptive"]
    assert rows[0]["signals"] == ["2 failed quiz attempts in 14 days"]
    assert ApiClient(app, other).get("/api/v1/adaptive/struggling").json["learners"] == []
    assert ApiClient(app, make_user("admin")).get(
        "/api/v1/adaptive/struggling").json["learners"][0]["name"] == "Ada Adaptive"
    assert session.get(Quiz, quiz.id) is not None


@pytest.mark.parametrize(("role", "expected"), [
    (None, 401), ("student", 403), ("trainer", 200), ("admin", 200), ("superadmin", 200)])
@pytest.mark.parametrize("url", ["/api/v1/adaptive/struggling",
                                 "/api/v1/adaptive/items/calibration",
                                 "/api/v1/adaptive/unlocks"])
def test_staff_endpoints_permissions(app, make_user, role, expected, url):
    client = ApiClient(app, make_user(role) if role else None)
    assert client.get(url).status_code == expected


@pytest.mark.parametrize("url", ["/api/v1/adaptive/mastery/me", "/api/v1/adaptive/paths/me"])
def test_own_endpoints_need_sign_in(app, make_user, url):
    assert ApiClient(app, None).get(url).status_code == 401
    assert ApiClient(app, make_user("student")).get(url).status_code == 200


def test_dashboard_shows_mastery_and_placement(learner, web):
    web.sign_in(learner.email, DEFAULT_PASSWORD)
    dashboard = web.get("/dashboard").text
    assert "take the placement diagnostic" in dashboard and 'href="/adaptive/path"' in dashboard


def test_pages(app, lms, learner, web, make_user):
    web.sign_in(learner.email, DEFAULT_PASSWORD)
    intro = web.get("/adaptive/diagnostic/TT")
    assert intro.status_code == 200 and "Start the diagnostic" in intro.text
    started = web.submit("/adaptive/diagnostic/TT", {}, action="/adaptive/diagnostic/TT/start")
    assert started.status_code == 302
    diagnostic = lms.db.session.scalar(select(Diagnostic))
    empty = web.submit("/adaptive/diagnostic/TT", {},
                       action=f"/adaptive/diagnostics/{diagnostic.id}/answer")
    assert empty.status_code == 422 and "Choose an option." in empty.text
    for _ in range(20):
        page = web.get("/adaptive/diagnostic/TT").text
        if "Take it again" in page:
            break
        assert "<form" in page and "Question" in page
        response = web.submit("/adaptive/diagnostic/TT", {"selected": "A", "text": "where",
                                                          "value": "3.14"},
                              action=f"/adaptive/diagnostics/{diagnostic.id}/answer")
        assert response.status_code == 302
    assert "Take it again" in page
    results = web.get(f"/adaptive/diagnostics/{diagnostic.id}").text
    assert "Skill per topic" in results and "waiting for your trainer" in results
    assert "Week of" not in web.get("/adaptive/path").text
    assert web.get("/adaptive/trainer/unlocks").status_code == 403  # learners do not decide
    staff = app.test_client()
    staff.sign_in(make_user("trainer").email, DEFAULT_PASSWORD)
    assert staff.get("/adaptive/trainer/items?all=1").status_code == 200
    assert "Nobody is struggling" in staff.get("/adaptive/trainer/struggling").text
    assert "Nothing to decide" in staff.get("/adaptive/trainer/unlocks").text
