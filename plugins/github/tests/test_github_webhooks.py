"""The webhook: signature check before anything else, re-deliveries dropped (also when they
arrive at the same time), and pull requests / CI results moving the learner's submission.
Payloads are GitHub's own examples (@octokit/webhooks-examples), pointed at the learner's
repository and signed here."""

from __future__ import annotations

import json
import threading
import tomllib
import uuid

import pytest
from github_support import ROOT, WEBHOOK_SECRET, plugin_settings, sign, webhook_example
from lms_github.models import GithubDelivery, GithubRepository
from lms_github.webhooks import MERGE_APPROVES
from sqlalchemy import func, inspect, select

from lmscore.db import Base
from lmscore.models import OutboxEvent, Review, Submission, Track
from lmscore.services import learning, submissions

REPO = "octo-learner/dp-sql-foundations-octo-learner"
URL = "/api/v1/github/webhook"


@pytest.fixture
def learner_repository(lms, learner, course) -> GithubRepository:
    """The state after "Start on GitHub": a ready repository and its draft submission."""
    session = lms.db.session
    row = GithubRepository(user_id=learner.id, project_id=course.project.id,
                           owner="octo-learner", name=REPO.split("/")[1],
                           full_name_key=REPO.lower(), status="ready",
                           html_url=f"https://github.com/{REPO}", github_id=1)
    session.add(row)
    session.commit()
    submissions.create(lms, session, learner, submissions.SubmissionInput(
        deliverable_id=course.deliverable.id, url=row.html_url, draft=True))
    return row


def deliver(client, event: str, payload, *, delivery: str | None = None,
            signature: str | None = None, headers: dict | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": signature or sign(WEBHOOK_SECRET, body),
            "Content-Type": "application/json", **(headers or {})}
    return client.post(URL, data=body, headers={k: v for k, v in sent.items() if v != ""})


def pr(action: str, **changes):
    payload = webhook_example("pull_request", action, repository=REPO)
    payload["pull_request"].update(changes)
    return payload


def attempts(lms, learner) -> list[Submission]:
    user_id = inspect(learner).identity[0]  # works on an expired, detached fixture object
    lms.db.session.expire_all()
    return list(lms.db.session.scalars(select(Submission).where(
        Submission.user_id == user_id).order_by(Submission.attempt)))


def deliveries(lms) -> int:
    return lms.db.session.scalar(select(func.count()).select_from(GithubDelivery))


# -- signature and shape -------------------------------------------------------------------------


def test_forged_or_missing_signatures_change_nothing(app, lms, learner, learner_repository):
    client = app.test_client()
    body = json.dumps(pr("opened")).encode()
    forged = deliver(client, "pull_request", body, signature=sign("not-the-secret", body))
    assert forged.status_code == 401
    assert forged.json["error"]["code"] == "unauthorized"
    tampered = deliver(client, "pull_request", body.replace(b"opened", b"closed"),
                       signature=sign(WEBHOOK_SECRET, body))
    assert tampered.status_code == 401
    missing = deliver(client, "pull_request", body, headers={"X-Hub-Signature-256": ""})
    assert missing.status_code == 401
    assert "X-Hub-Signature-256" in missing.json["error"]["message"]
    assert deliveries(lms) == 0
    assert [s.status for s in attempts(lms, learner)] == ["draft"]


def test_signed_but_unusable_deliveries_are_400(app, lms):
    client = app.test_client()
    no_id = deliver(client, "ping", {"zen": "x"}, headers={"X-GitHub-Delivery": ""})
    assert no_id.status_code == 400
    assert "X-GitHub-Delivery" in no_id.json["error"]["details"]["fields"]
    no_event = deliver(client, "", {"zen": "x"})
    assert no_event.status_code == 400
    assert "X-GitHub-Event" in no_event.json["error"]["details"]["fields"]
    not_json = deliver(client, "ping", b"{not json")
    assert not_json.status_code == 400 and "_body" in not_json.json["error"]["details"]["fields"]
    assert deliveries(lms) == 0


def test_without_a_secret_every_delivery_is_refused(app_factory, github):
    app = app_factory({"plugins": {"enabled": ["github"],
                                   "github": plugin_settings(github, webhook_secret="")}})
    response = deliver(app.test_client(), "ping", webhook_example("ping"))
    assert response.status_code == 503 and response.json["error"]["code"] == "unavailable"


def test_ping_installation_and_strangers_are_acknowledged(app, lms, learner_repository):
    client = app.test_client()
    assert deliver(client, "ping", webhook_example("ping")).json == {"outcome": "pong"}
    installed = deliver(client, "installation", webhook_example("installation", "created"))
    assert installed.status_code == 200
    assert installed.json["outcome"] == "acknowledged installation created"
    stranger = deliver(client, "pull_request", webhook_example("pull_request", "opened"))
    assert stranger.json["outcome"] == "ignored: not a learner repository of this site"
    starred = deliver(client, "star", {"action": "created", "repository": {"full_name": REPO}})
    assert starred.json["outcome"] == "ignored: star events are not used"
    assert deliveries(lms) == 4


# -- pull requests -------------------------------------------------------------------------------


def test_opened_submits_and_a_redelivery_is_dropped(app, lms, jobs, learner,
                                                    learner_repository):
    client = app.test_client()
    payload = pr("opened")
    first = deliver(client, "pull_request", payload, delivery="d-1")
    assert first.status_code == 200
    assert "submitted for review (pull request #2)" in first.json["outcome"]
    jobs.drain()
    [attempt] = attempts(lms, learner)
    assert attempt.status == "in_review" and attempt.url == learner_repository.html_url
    assert "Pull request [#2](https://github.com/Codertocat/Hello-World/pull/2)" in attempt.text

    again = deliver(client, "pull_request", payload, delivery="d-1")
    assert again.json == {"outcome": "duplicate delivery: already handled"}
    assert len(attempts(lms, learner)) == 1
    created = lms.db.session.scalar(select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.name == "submission_created"))
    assert created == 1
    # A new push while in review is acknowledged and recorded; nothing changes.
    pushed = deliver(client, "pull_request", pr("synchronize"))
    assert pushed.json["outcome"].startswith("ignored: Your previous submission is still")
    assert len(attempts(lms, learner)) == 1 and deliveries(lms) == 2


def test_draft_pull_requests_are_not_for_review(app, lms, learner, learner_repository):
    response = deliver(app.test_client(), "pull_request", pr("opened", draft=True))
    assert response.json["outcome"] == "ignored: pull request #2 is a draft"
    assert [s.status for s in attempts(lms, learner)] == ["draft"]


def _set_merge_approves(lms, course, value: bool) -> None:
    track = lms.db.session.get(Track, course.track.id)
    track.settings = {"github": {"merge_approves": value}}
    lms.db.session.commit()


def test_merged_approves_when_the_track_says_so(app, lms, jobs, learner, course,
                                                learner_repository):
    _set_merge_approves(lms, course, True)
    client = app.test_client()
    deliver(client, "pull_request", pr("opened"))
    jobs.drain()
    merged = deliver(client, "pull_request", pr("closed", merged=True))
    assert "approved (pull request #2 merged)" in merged.json["outcome"]
    [attempt] = attempts(lms, learner)
    assert attempt.status == "approved"
    [review] = lms.db.session.scalars(select(Review).where(Review.submission_id == attempt.id))
    assert review.reviewer_id is None and "merged on GitHub" in review.feedback_markdown
    event = lms.db.session.scalar(select(OutboxEvent).where(
        OutboxEvent.name == "submission_reviewed"))
    assert event.payload["reviewer_id"] is None and event.payload["decision"] == "approved"
    jobs.drain()  # listeners take a decision without a reviewer
    lms.db.session.refresh(event)
    assert event.status == "delivered", event.error
    assert learning.project_progress(lms.db.session, learner, course.project).status == (
        "completed")


def test_the_bundled_tracks_say_merge_approval_where_it_is_read():
    # FSD approves merged pull requests, DP leaves them to a trainer: under [settings.github].
    decided = {code: tomllib.loads((ROOT / "tracks" / code / "track.toml").read_text(
        encoding="utf-8"))["settings"]["github"][MERGE_APPROVES] for code in ("fsd", "dp")}
    assert decided == {"fsd": True, "dp": False}


def test_merged_waits_for_a_trainer_by_default(app, lms, jobs, learner, learner_repository):
    client = app.test_client()
    deliver(client, "pull_request", pr("opened"))
    jobs.drain()
    merged = deliver(client, "pull_request", pr("closed", merged=True))
    assert merged.json["outcome"].endswith("waits for a trainer")
    assert [s.status for s in attempts(lms, learner)] == ["in_review"]


def test_closed_unmerged_goes_back_to_draft(app, lms, jobs, learner, learner_repository):
    client = app.test_client()
    deliver(client, "pull_request", pr("opened"))
    jobs.drain()
    closed = deliver(client, "pull_request", pr("closed"))
    assert "back to draft" in closed.json["outcome"]
    [attempt] = attempts(lms, learner)
    assert attempt.status == "draft" and attempt.submitted_at is None
    reopened = deliver(client, "pull_request", pr("reopened"))
    assert "submitted for review" in reopened.json["outcome"]


def test_a_push_after_changes_requested_is_a_new_attempt(app, lms, jobs, make_user, learner,
                                                         learner_repository):
    client = app.test_client()
    deliver(client, "pull_request", pr("opened"))
    jobs.drain()
    [first] = attempts(lms, learner)
    submissions.review(lms.db.session, make_user("trainer"), first.id,
                       decision="changes_requested", feedback="Add tests.", score=None)
    pushed = deliver(client, "pull_request", pr("synchronize"))
    assert "submitted for review" in pushed.json["outcome"]
    assert [(s.attempt, s.status) for s in attempts(lms, learner)] == [
        (1, "changes_requested"), (2, "submitted")]


# -- CI results ----------------------------------------------------------------------------------


def test_ci_results_and_a_published_score(app, lms, learner, learner_repository, signed_in,
                                          course):
    client = app.test_client()
    run = webhook_example("check_run", "completed", repository=REPO)
    sha = run["check_run"]["head_sha"]
    run["check_run"].update(name="Autograding Tests", conclusion="success",
                            output={**run["check_run"]["output"], "title": "Autograding",
                                    "summary": "Points 8/10", "text": "Points 8/10"})
    scored = deliver(client, "check_run", run)
    assert scored.json["outcome"].endswith("Autograding Tests success, score 8/10")
    [attempt] = attempts(lms, learner)
    assert attempt.auto_grade["score"] == 8 and attempt.auto_grade["max_score"] == 10

    suite = webhook_example("check_suite", "completed", repository=REPO)
    assert suite["check_suite"]["head_sha"] == sha
    deliver(client, "check_suite", suite)
    [attempt] = attempts(lms, learner)
    assert attempt.auto_grade["conclusion"] == "success"
    assert (attempt.auto_grade["score"], attempt.auto_grade["max_score"]) == (8, 10)  # kept
    page = signed_in.get(f"/projects/{course.project.id}").get_data(as_text=True)
    assert "Automatic check:" in page and "8.0 / 10.0" in page

    workflow = webhook_example("workflow_run", "completed", repository=REPO)
    workflow["workflow_run"]["conclusion"] = "failure"
    failed = deliver(client, "workflow_run", workflow)
    assert failed.json["outcome"].endswith(f"{workflow['workflow_run']['name']} failure")
    [attempt] = attempts(lms, learner)
    assert attempt.auto_grade["conclusion"] == "failure" and "score" not in attempt.auto_grade
    requested = deliver(client, "check_suite",
                        webhook_example("check_suite", "requested", repository=REPO))
    assert requested.json["outcome"] == "ignored: check_suite requested"


def test_an_impossible_score_is_not_recorded(app, lms, learner, learner_repository):
    run = webhook_example("check_run", "completed", repository=REPO)
    run["check_run"]["output"]["summary"] = "score: 12/10"
    response = deliver(app.test_client(), "check_run", run)
    assert response.json["outcome"].startswith("ignored: A score is between")
    assert attempts(lms, learner)[0].auto_grade is None


# -- concurrency ---------------------------------------------------------------------------------


def test_concurrent_duplicate_deliveries_have_one_effect(standalone_app):
    """Two copies of one delivery at the same moment, on separate connections: one effect."""
    app, lms, learner_id = standalone_app
    body = json.dumps(pr("opened")).encode()
    barrier = threading.Barrier(2)
    answers: list[str] = []

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        answers.append(deliver(client, "pull_request", body, delivery="same-id").json["outcome"])

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(a.split(" ")[0] for a in answers) == ["duplicate", "submission"]
    with app.app_context():
        session = lms.db.session
        rows = session.scalars(select(Submission).where(Submission.user_id == learner_id)).all()
        assert [(s.attempt, s.status) for s in rows] == [(1, "submitted")]
        assert session.scalar(select(func.count()).select_from(GithubDelivery)) == 1


@pytest.fixture
def standalone_app(tmp_path, github, monkeypatch, lms_database_url):
    """An app with its own database and connection pool (the usual test app shares one
    connection), so two requests really run side by side."""
    from lmscore.app import create_app
    from lmscore.db import make_engine
    from lmscore.models import Deliverable, Project, User

    url = _scratch_url(lms_database_url, tmp_path)
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    config = tmp_path / "lms.toml"
    config.write_text("# settings are passed as overrides\n", encoding="utf-8")
    monkeypatch.setenv("LMS_CONFIG", str(config))
    app = create_app({
        "secret_key": "standalone-secret-key-that-is-long-enough", "database": {"url": url},
        "instance_dir": str(tmp_path), "jobs": {"in_process_worker": False},
        "plugins": {"enabled": ["github"], "github": plugin_settings(github)}})
    lms = app.extensions["lmscore"]
    with app.app_context():
        session = lms.db.session
        track = Track(code="DP", name="Data Professional")
        project = Project(track=track, number=1, slug="sql-foundations", title="SQL")
        session.add_all([track, project, Deliverable(project=project, key="repo", title="R",
                                                     kind="repository")])
        user = User(email="concurrent@example.org", name="C", role="student",
                    password_hash="x")
        session.add(user)
        session.commit()
        learning.enrol(lms, session, user, "DP")
        session.add(GithubRepository(user_id=user.id, project_id=project.id, owner="o",
                                     name="n", full_name_key=REPO.lower(), status="ready",
                                     html_url=f"https://github.com/{REPO}"))
        session.commit()
        learner_id = user.id
    yield app, lms, learner_id
    lms.close()
    _drop_scratch(url)


def _scratch_url(session_url: str, tmp_path) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(session_url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///{tmp_path / 'concurrent.db'}"
    import psycopg

    name = f"lms_github_{uuid.uuid4().hex[:10]}"
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return parsed.set(database=name).render_as_string(hide_password=False)


def _drop_scratch(url: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    import psycopg

    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
