"""The Slack channel against a local incoming-webhook sink on 127.0.0.1 that answers like
Slack (``200 ok``, or an error), end to end from a learner's submission."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from lms_notify_slack.plugin import SlackChannel, escape, message
from sqlalchemy import select

from lmscore.capabilities import Notification
from lmscore.errors import ConfigError
from lmscore.models import (
    Deliverable,
    JobFailure,
    NotificationDelivery,
    OutboxEvent,
    Project,
    Submission,
    Track,
)
from lmscore.services import learning, submissions
from lmscore.services import notifications as service
from lmscore.testing.contracts import NotificationChannelContract

HOSTILE = "<!channel> <https://evil.example|click> & <b>"


class Sink:
    """Records each webhook POST as (path, JSON body); answers ``status``/``reply``."""

    def __init__(self):
        self.posts: list[tuple[str, dict]] = []
        self.status, self.reply = 200, "ok"
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                sink.posts.append((self.path, json.loads(self.rfile.read(length))))
                body = sink.reply.encode()
                self.send_response(sink.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    running = Sink()
    yield running
    running.close()


def slack_config(sink: Sink, **routes):
    return {"plugins": {"enabled": ["notify_slack"], "notify_slack": {
        "webhooks": {"trainers": f"{sink.url}/services/T1/B1/trainers",
                     "office": f"{sink.url}/services/T1/B2/office"},
        "routes": routes or {"submission_submitted": ["trainers"]},
    }}}


@pytest.fixture
def course(lms):
    session = lms.db.session
    track = Track(code="SL", name="Slack track")
    project = Project(track=track, number=1, slug="p", title="P")
    session.add_all([track, project,
                     Deliverable(project=project, key="d", title="Report", kind="text")])
    session.commit()
    return track


def submit(lms, make_user, course, **fields) -> Submission:
    learner = make_user("student", **fields)
    learning.enrol(lms, lms.db.session, learner, course.code)
    return submissions.create(lms, lms.db.session, learner, submissions.SubmissionInput(
        deliverable_id=course.projects[0].deliverables[0].id, text="work"), None)


class TestSlackChannelContract(NotificationChannelContract):
    @pytest.fixture
    def provider(self, sink):
        return SlackChannel({"trainers": f"{sink.url}/hook"},
                            {"submission_reviewed": ["trainers"]}, 5, "Open")

    @pytest.fixture
    def delivered(self, sink):
        return lambda: [body["text"] for _path, body in sink.posts]


def test_submission_reaches_the_trainers_channel_with_a_link_back(app_factory, sink, make_user,
                                                                   course):
    app = app_factory(slack_config(sink))
    lms = app.extensions["lmscore"]
    submission = submit(lms, make_user, course, name=f"Eve {HOSTILE}")
    lms.jobs.drain()
    ((path, body),) = sink.posts
    assert path == "/services/T1/B1/trainers"
    section, actions = body["blocks"]
    assert section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"].startswith(f"*Eve {escape(HOSTILE)} submitted “Report”*\n")
    for text in (section["text"]["text"], body["text"]):
        assert "<!channel>" not in text and "<https://evil" not in text
    (button,) = actions["elements"]
    assert button["url"] == f"{lms.settings.base_url}/trainer/submissions/{submission.id}"
    assert button["text"]["text"] == "Open in lmscore"
    (row,) = lms.db.session.scalars(select(NotificationDelivery).where(
        NotificationDelivery.channel == "slack")).all()
    assert (row.status, row.destination, row.recipient_id) == ("sent", "trainers", None)


def test_kinds_go_only_where_they_are_routed(app_factory, sink, make_user, course):
    app = app_factory(slack_config(sink, enrolment_activated=["office", "trainers"]))
    lms = app.extensions["lmscore"]
    submit(lms, make_user, course)  # enrolment (routed) and submission (not routed)
    lms.jobs.drain()
    assert sorted(path for path, _ in sink.posts) == ["/services/T1/B1/trainers",
                                                      "/services/T1/B2/office"]
    assert all("is enrolled in Slack track" in body["text"] for _, body in sink.posts)


def test_a_failing_webhook_is_retried_recorded_and_spares_the_submission(
        app_factory, sink, make_user, mailbox, course):
    sink.status, sink.reply = 500, "server_error"
    app = app_factory(slack_config(sink))
    lms = app.extensions["lmscore"]
    trainer = make_user("trainer")
    submission = submit(lms, make_user, course, trainer_id=trainer.id)
    lms.jobs.drain(raise_failures=False)

    session = lms.db.session
    assert session.get(Submission, submission.id).status in ("submitted", "in_review")
    (row,) = session.scalars(select(NotificationDelivery).where(
        NotificationDelivery.channel == "slack")).all()
    assert row.status == "failed" and row.attempts == service.DELIVERY_RETRIES + 1
    assert len(sink.posts) == service.DELIVERY_RETRIES + 1
    assert "answered 500: server_error" in row.error
    failure = session.scalar(select(JobFailure).where(JobFailure.actor == service.DELIVER_JOB))
    assert failure is not None and failure.kwargs == {"delivery_id": row.id}
    event = session.scalar(select(OutboxEvent).where(OutboxEvent.name == "submission_created"))
    assert event.status == "delivered"
    # Email to the trainer went out all the same.
    assert [m["To"] for m in mailbox()].count(trainer.email) == 1


def test_a_webhook_that_recovers_delivers_once(app_factory, sink, make_user, course):
    sink.status, sink.reply = 429, "rate_limited"
    app = app_factory(slack_config(sink))
    lms = app.extensions["lmscore"]
    submit(lms, make_user, course)
    lms.jobs.drain(raise_failures=False)
    assert {r.status for r in lms.db.session.scalars(select(NotificationDelivery).where(
        NotificationDelivery.channel == "slack"))} == {"failed"}
    # A new event after Slack is back is delivered at the first attempt.
    sink.status, sink.reply = 200, "ok"
    sink.posts.clear()
    submit(lms, make_user, course)
    lms.jobs.drain(raise_failures=False)
    assert len(sink.posts) == 1


def test_webhook_urls_come_from_the_environment(app_factory, sink, monkeypatch, make_user,
                                                course):
    monkeypatch.setenv("SLACK_TRAINERS_URL", f"{sink.url}/from-env")
    config = slack_config(sink)
    config["plugins"]["notify_slack"]["webhooks"] = {"trainers": {"$env": "SLACK_TRAINERS_URL"}}
    lms = app_factory(config).extensions["lmscore"]
    submit(lms, make_user, course)
    lms.jobs.drain()
    assert [path for path, _ in sink.posts] == ["/from-env"]


@pytest.mark.parametrize(("routes", "complaint"), [
    ({"submission_submitted": ["nowhere"]}, "routes.submission_submitted"),
    ({"submission_sent": ["trainers"]}, "submission_sent"),
])
def test_bad_routes_stop_start_up(app_factory, sink, routes, complaint):
    with pytest.raises(ConfigError, match=complaint):
        app_factory(slack_config(sink, **routes))


def test_message_format_without_a_link():
    note = Notification(event="user_registered", recipient_email="", recipient_name="",
                        subject="New registration: A & B", text="x" * 4000, destination="t")
    body = message(note, "Open")
    (section,) = body["blocks"]
    assert section["text"]["text"].startswith("*New registration: A &amp; B*\n")
    assert len(section["text"]["text"]) == 3000
